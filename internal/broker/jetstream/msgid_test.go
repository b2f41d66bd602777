package jetstream_test

import (
	"context"
	"strings"
	"testing"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/broker/jetstream"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// Two different messages with the same client-chosen id (a provider's
// request id) both land; a retry of the same message is de-duplicated by
// the stream.
func TestSameIDDifferentContentBothLand(t *testing.T) {
	top := topology.Default()
	b := newBroker(t, jetstream.Config{DataDir: t.TempDir(), Topology: top})
	defer b.Close(context.Background())
	const queue = "grpc_clickhouse_event_q"
	pub := func(body string) {
		t.Helper()
		msg := broker.Message{ID: "provider-request-1", RoutingKey: "LaunchEvent", Body: []byte(body)}
		if err := b.Publish(context.Background(), "grpc_event.tx", []broker.Message{msg}); err != nil {
			t.Fatal(err)
		}
	}
	pub("first body")
	pub("second body")
	pub("second body") // the publisher's retry
	n, sample, err := b.Peek(context.Background(), queue, 10)
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, d := range sample {
		bodies = append(bodies, string(d.Body))
		if d.ID != "provider-request-1" {
			t.Errorf("delivery id %q, want the publisher's", d.ID)
		}
	}
	if n != 2 || strings.Join(bodies, ",") != "first body,second body" {
		t.Fatalf("queue holds %d messages %q, want both bodies once", n, bodies)
	}
}

// A message larger than the server's max payload fails permanently, named
// with the limit (not as a transient error that is retried forever).
func TestTooLargeForThePayloadIsPermanent(t *testing.T) {
	b := newBroker(t, jetstream.Config{DataDir: t.TempDir(), Topology: topology.Default()})
	defer b.Close(context.Background())
	body := make([]byte, b.MaxMessageBytes()+8<<10)
	err := b.Publish(context.Background(), "grpc_event.tx", []broker.Message{{ID: "x", RoutingKey: "LaunchEvent", Body: body}})
	if err == nil || !strings.Contains(err.Error(), "max payload") || !fault.IsPermanent(err) {
		t.Fatalf("err = %v", err)
	}
	// The broker still publishes.
	if err := b.Publish(context.Background(), "grpc_event.tx", []broker.Message{{ID: "y", RoutingKey: "LaunchEvent", Body: []byte("ok")}}); err != nil {
		t.Fatal(err)
	}
}
