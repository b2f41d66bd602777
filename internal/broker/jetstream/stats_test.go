package jetstream_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// Stats reports each queue's bytes against its byte bound: the topology's
// max_bytes, the default bound, and the error queues' dead-letter bound.
func TestStatsBytesAgainstTheirCap(t *testing.T) {
	b, top, body := boundedClicks(t)
	for i := range 3 {
		if err := b.PublishToQueues(context.Background(), "ev.tx", []string{"clicks"}, []broker.Message{{RoutingKey: "Click", Body: body, ID: fmt.Sprint("c", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	stats, err := b.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]broker.QueueStat{}
	for _, s := range stats {
		by[s.Queue] = s
	}
	clicks, all := by["clicks"], by["all"]
	if clicks.MaxBytes != 64<<10 || clicks.Bytes < 3*8<<10 || clicks.Bytes > 4*8<<10 {
		t.Fatalf("clicks: %d bytes of %d, want 24 KiB and a little of 64 KiB", clicks.Bytes, clicks.MaxBytes)
	}
	if all.MaxBytes != topology.DefaultQueueMaxBytes || all.Bytes != 0 {
		t.Fatalf("all: %d bytes of %d, want 0 of the default bound", all.Bytes, all.MaxBytes)
	}
	for _, q := range top.Queues {
		if e := by[q.ErrorQueue()]; e.MaxBytes != topology.DefaultDeadLetterMaxBytes || e.Bytes != 0 {
			t.Fatalf("%s: %d bytes of %d, want 0 of the dead-letter bound", e.Queue, e.Bytes, e.MaxBytes)
		}
	}
}
