package landing

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/sink"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// gated passes writes to a real store once the gate opens, counting the
// writes under way.
type gated struct {
	sink.Sink
	gate          chan struct{}
	now, mostSeen atomic.Int32
}

func (g *gated) Write(ctx context.Context, b *schema.Batch) error {
	n := g.now.Add(1)
	for {
		m := g.mostSeen.Load()
		if n <= m || g.mostSeen.CompareAndSwap(m, n) {
			break
		}
	}
	defer g.now.Add(-1)
	<-g.gate
	return g.Sink.Write(ctx, b)
}

// A sink's budget bounds how many batches are decoded and written at once
// (each worker of each queue feeding it would otherwise hold its decoded
// batch while the sink is slow); another sink's queues are not held up by
// it; every batch is stored once the slow sink goes on.
func TestBudgetBoundsBatchesPerSink(t *testing.T) {
	slowStore, cat := store(t)
	fastStore, _ := store(t)
	slow := &gated{Sink: slowStore, gate: make(chan struct{})}
	q, _ := topology.Default().Queue("grpc_clickhouse_event_q")
	batchOf := func(tag string, i int) []broker.Delivery {
		body := eventsBody(t, &eventgrpcv1.Events{Events: []*eventgrpcv1.Event{{
			Id: fmt.Sprintf("%s-%d", tag, i), Timestamp: "1795000000000",
			EventOf: &eventgrpcv1.Event_TestEvent{TestEvent: &eventgrpcv1.TestEvent{}},
		}}})
		return []broker.Delivery{{Queue: q.Name, Body: body}}
	}
	size := int64(len(batchOf("s", 0)[0].Body))
	budget, err := NewBudget(2*size, nil) // two batches at once
	if err != nil {
		t.Fatal(err)
	}
	newHandler := func(s sink.Sink) *Handler {
		h, err := New(q, cat, func(*schema.Table) sink.Sink { return s }, nil, must(NewMetrics(nil)), budget)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	hs := []*Handler{newHandler(slow), newHandler(slow)} // two queues on one sink
	var eg errgroup.Group
	for i := range 6 {
		eg.Go(func() error { return hs[i%2].Handle(context.Background(), batchOf("s", i)) })
	}
	deadline := time.Now().Add(10 * time.Second)
	for slow.now.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := slow.now.Load(); got != 2 {
		t.Fatalf("%d batches reached the slow sink, want 2 (the budget)", got)
	}

	// The other sink's queue is not held up.
	done := make(chan error, 1)
	go func() { done <- newHandler(fastStore).Handle(context.Background(), batchOf("f", 0)) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("other sink: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a batch for another sink waited for the slow sink's budget")
	}
	time.Sleep(100 * time.Millisecond) // let any over-budget writer show itself
	if got := slow.mostSeen.Load(); got != 2 {
		t.Fatalf("at most %d batches at the slow sink at once, want 2", got)
	}

	close(slow.gate)
	if err := eg.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := one(t, slowStore, "SELECT count(*) FROM event"); got != "6" {
		t.Fatalf("slow sink rows = %s, want 6", got)
	}
	if slow.mostSeen.Load() != 2 {
		t.Fatalf("at most %d batches at once, want 2", slow.mostSeen.Load())
	}
}
