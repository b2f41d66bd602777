package event

import (
	"testing"

	"google.golang.org/protobuf/proto"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/fault"
)

func TestCodecRoundTrip(t *testing.T) {
	a := &eventgrpcv1.Events{Header: &eventgrpcv1.Header{UserId: "u1"}, Events: []*eventgrpcv1.Event{
		{Id: "1", EventOf: &eventgrpcv1.Event_LaunchEvent{LaunchEvent: &eventgrpcv1.LaunchEvent{LaunchSource: "icon"}}},
		{Id: "2", EventOf: &eventgrpcv1.Event_AddToCartEvent{AddToCartEvent: &eventgrpcv1.AddToCartEvent{ProductId: "p"}}},
	}}
	b := &eventgrpcv1.Events{Header: &eventgrpcv1.Header{UserId: "u2"}}
	var body []byte
	var err error
	for _, p := range []*eventgrpcv1.Events{a, b} {
		if body, err = AppendEvents(body, p); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !proto.Equal(got[0], a) || !proto.Equal(got[1], b) {
		t.Fatalf("Decode(AppendEvents) = %v", got)
	}
	if parts, err := Decode(nil); err != nil || len(parts) != 0 {
		t.Fatalf("Decode(empty) = %v, %v", parts, err)
	}
}

func TestDecodeRefusesGarbage(t *testing.T) {
	for _, b := range [][]byte{{0xff}, {0x05, 0x01}, {0x02, 0xff, 0xff}} {
		if _, err := Decode(b); err == nil || !fault.IsPermanent(err) {
			t.Errorf("Decode(%x) = %v, want a permanent error", b, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	body, _ := AppendEvents(nil, &eventgrpcv1.Events{Events: []*eventgrpcv1.Event{{Id: "x"}}})
	f.Add(body)
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		parts, err := Decode(b)
		if err != nil && !fault.IsPermanent(err) {
			t.Fatalf("error not permanent: %v", err)
		}
		if err == nil {
			var again []byte
			for _, p := range parts {
				again, _ = AppendEvents(again, p)
			}
			if _, err := Decode(again); err != nil {
				t.Fatalf("re-encoded body does not decode: %v", err)
			}
		}
	})
}

// A part written in pieces — the header field, each event field, the size
// in front — is byte for byte the part AppendEvents writes, and Decode
// reads it back.
func TestCodecPieces(t *testing.T) {
	evs := &eventgrpcv1.Events{Header: &eventgrpcv1.Header{UserId: "u1"}, Events: []*eventgrpcv1.Event{
		{Id: "1", EventOf: &eventgrpcv1.Event_LaunchEvent{LaunchEvent: &eventgrpcv1.LaunchEvent{LaunchSource: "icon"}}},
		{Id: "2", EventOf: &eventgrpcv1.Event_AddToCartEvent{AddToCartEvent: &eventgrpcv1.AddToCartEvent{ProductId: "p"}}},
	}}
	want, err := AppendEvents(nil, evs)
	if err != nil {
		t.Fatal(err)
	}
	fields, err := AppendHeaderField(nil, evs.Header)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs.Events {
		if fields, err = AppendEventField(fields, ev); err != nil {
			t.Fatal(err)
		}
	}
	got := append(AppendPartSize(nil, len(fields)), fields...)
	if string(got) != string(want) {
		t.Fatalf("pieces = %x\nAppendEvents = %x", got, want)
	}
	if PartSizeLen(len(fields)) != len(got)-len(fields) {
		t.Fatalf("PartSizeLen(%d) = %d, prefix is %d bytes", len(fields), PartSizeLen(len(fields)), len(got)-len(fields))
	}
	parts, err := Decode(got)
	if err != nil || len(parts) != 1 || !proto.Equal(parts[0], evs) {
		t.Fatalf("Decode = %v, %v", parts, err)
	}
	if b, err := AppendHeaderField([]byte{7}, nil); err != nil || string(b) != "\x07" {
		t.Fatalf("AppendHeaderField(nil header) = %x, %v; want the buffer unchanged", b, err)
	}
}
