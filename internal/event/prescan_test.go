package event

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/fault"
)

// emptyEvents is the wire form of an Events message of n empty events:
// two bytes each, as an attacker would send them.
func emptyEvents(n int) []byte {
	b := make([]byte, 0, 2*n)
	for range n {
		b = protowire.AppendTag(b, eventsField, protowire.BytesType)
		b = protowire.AppendVarint(b, 0)
	}
	return b
}

func TestCountEvents(t *testing.T) {
	msg := &eventgrpcv1.Events{Header: &eventgrpcv1.Header{UserId: "u"}, Events: []*eventgrpcv1.Event{
		{Id: "1", EventOf: &eventgrpcv1.Event_LaunchEvent{LaunchEvent: &eventgrpcv1.LaunchEvent{LaunchSource: "icon"}}},
		{Id: "2"}, {},
	}}
	wire, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		b       []byte
		max     int
		want    int
		tooMany bool
		bad     bool
	}{
		{name: "empty message", b: nil, max: 10, want: 0},
		{name: "real message", b: wire, max: 3, want: 3},
		{name: "real message over", b: wire, max: 2, want: 3, tooMany: true},
		{name: "two million empty events", b: emptyEvents(2_000_000), max: 1000, want: 1001, tooMany: true},
		{name: "truncated length", b: wire[:len(wire)-1], max: 10, bad: true},
		{name: "bad tag", b: []byte{0x80}, max: 10, bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := CountEvents(tc.b, tc.max)
			switch {
			case tc.tooMany:
				if !errors.Is(err, ErrTooManyEvents) || !fault.IsPermanent(err) || n != tc.want {
					t.Fatalf("CountEvents = %d, %v; want %d and a permanent ErrTooManyEvents", n, err, tc.want)
				}
			case tc.bad:
				if err == nil || errors.Is(err, ErrTooManyEvents) || !fault.IsPermanent(err) {
					t.Fatalf("CountEvents = %d, %v; want a permanent malformed-message error", n, err)
				}
			default:
				if err != nil || n != tc.want {
					t.Fatalf("CountEvents = %d, %v; want %d", n, err, tc.want)
				}
			}
		})
	}
}

// TestCountEventsAllocatesNothing: the pre-scan allocates nothing but its
// refusal, whatever the message holds (it is what stands between the wire
// and a 200 MB decode).
func TestCountEventsAllocatesNothing(t *testing.T) {
	b := emptyEvents(2_000_000)
	if a := testing.AllocsPerRun(5, func() { CountEvents(b, 2_000_000) }); a != 0 {
		t.Fatalf("CountEvents of an accepted message allocated %.0f times per run", a)
	}
	if a := testing.AllocsPerRun(5, func() { CountEvents(b, 1000) }); a > 8 {
		t.Fatalf("CountEvents of a refused message allocated %.0f times per run, want only its error", a)
	}
}

// FuzzCountEvents: on any input the pre-scan never panics, never counts
// past max+1, and agrees with proto.Unmarshal: a message it accepts with n
// events, and that proto decodes, has n events; one proto decodes with
// more than max events is refused.
func FuzzCountEvents(f *testing.F) {
	msg := &eventgrpcv1.Events{Header: &eventgrpcv1.Header{UserId: "u"}, Events: []*eventgrpcv1.Event{{Id: "1"}, {}}}
	wire, _ := proto.Marshal(msg)
	f.Add(wire, 5)
	f.Add(wire, 1)
	f.Add(emptyEvents(20), 10)
	f.Add([]byte{0x12, 0x80}, 3)
	f.Add([]byte{0x0a, 0x02, 0x12, 0x00}, 3)
	f.Fuzz(func(t *testing.T, b []byte, max int) {
		if max < 0 || max > 1<<20 {
			max = 5
		}
		n, err := CountEvents(b, max)
		if n > max+1 {
			t.Fatalf("counted %d past max %d", n, max)
		}
		if err != nil && !fault.IsPermanent(err) {
			t.Fatalf("error %v is not permanent", err)
		}
		var m eventgrpcv1.Events
		if proto.Unmarshal(b, &m) != nil {
			return
		}
		switch {
		case err == nil && len(m.Events) != n:
			t.Fatalf("counted %d events, proto decoded %d", n, len(m.Events))
		case len(m.Events) > max && !errors.Is(err, ErrTooManyEvents):
			t.Fatalf("proto decoded %d events > max %d, pre-scan said %d, %v", len(m.Events), max, n, err)
		case err != nil && !errors.Is(err, ErrTooManyEvents):
			t.Fatalf("pre-scan refused a message proto decodes: %v", err)
		}
	})
}

func TestCountJSONEvents(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		max, want  int
		tooMany    bool
	}{
		{"none", `{}`, 5, 0, false},
		{"empty array", `{"events": []}`, 5, 0, false},
		{"null", `{"events": null}`, 5, 0, false},
		{"three", `{"header":{"userId":"u,[x]"},"events":[{"id":"a,b","launchEvent":{}}, {"testEvent":{"x":[1,2]}} ,{}]}`, 5, 3, false},
		{"escaped key", `{"\u0065vents":[{},{},{}]}`, 2, 3, true},
		{"nested events key is not counted", `{"header":{"events":[{},{},{}]},"events":[{}]}`, 1, 1, false},
		{"string with quote", `{"events":[{"id":"a\"}],[{"},{}]}`, 5, 2, false},
		{"over", `{"events":[` + strings.Repeat(`{},`, 2000) + `{}]}`, 1000, 1001, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := CountJSONEvents([]byte(tc.body), tc.max)
			if tc.tooMany != errors.Is(err, ErrTooManyEvents) || n != tc.want {
				t.Fatalf("CountJSONEvents = %d, %v; want %d (too many: %v)", n, err, tc.want, tc.tooMany)
			}
		})
	}
}

// FuzzCountJSONEvents: the JSON pre-scan never panics, and on a body
// protojson decodes it counts what protojson decoded (or refuses past max
// when protojson decoded more).
func FuzzCountJSONEvents(f *testing.F) {
	f.Add([]byte(`{"header":{"userId":"u"},"events":[{"id":"1","launchEvent":{}},{}]}`), 1)
	f.Add([]byte(`{"events":[{"id":"a\"]"}]}`), 3)
	f.Add([]byte(`{"\u0065vents":[{}]}`), 3)
	f.Fuzz(func(t *testing.T, b []byte, max int) {
		if max < 0 || max > 1<<20 {
			max = 5
		}
		n, err := CountJSONEvents(b, max)
		var m eventgrpcv1.Events
		if protojson.Unmarshal(b, &m) != nil {
			return
		}
		switch {
		case len(m.Events) > max && !errors.Is(err, ErrTooManyEvents):
			t.Fatalf("protojson decoded %d events > max %d; pre-scan said %d, %v", len(m.Events), max, n, err)
		case err == nil && n != len(m.Events):
			t.Fatalf("counted %d events, protojson decoded %d", n, len(m.Events))
		}
	})
}
