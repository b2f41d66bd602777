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
