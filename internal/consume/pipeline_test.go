package consume

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// A pipelined worker hands on batches while earlier ones wait for their
// fate (up to Prefetch/MaxMessages-1), acks none before its fate, and
// settles each by it: ack, retry copy for a message that failed
// permanently, hold and hand again after a transient failure.
func TestPipelinedAcksOnlyAfterFate(t *testing.T) {
	f := newFake()
	var bodies []string
	for i := range 60 {
		bodies = append(bodies, "m"+itoa(i%10))
	}
	f.publish(bodies...)
	r := newRunner(t, f, quick())
	q := testQueue(func(q *topology.Queue) { q.Prefetch = 40 }) // batches of 10: 3 in flight
	var mu sync.Mutex
	var dones []func(error)
	var handed, stalls int
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() {
		ran <- r.RunPipelined(ctx, q, func(_ context.Context, batch []broker.Delivery, done func(error)) {
			mu.Lock()
			defer mu.Unlock()
			handed++
			dones = append(dones, done)
		}, func() { mu.Lock(); stalls++; mu.Unlock() })
	}()
	waitFor(t, "three batches in flight", func() bool { mu.Lock(); defer mu.Unlock(); return handed == 3 })
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	if handed != 3 {
		t.Fatalf("%d batches handed with none settled, want 3 (Prefetch/MaxMessages-1)", handed)
	}
	if stalls == 0 {
		t.Fatal("the worker waits on a full window without saying it stalled")
	}
	f.mu.Lock()
	if f.acked != 0 {
		t.Fatalf("%d messages acked before any fate", f.acked)
	}
	f.mu.Unlock()
	first, second, third := dones[0], dones[1], dones[2]
	mu.Unlock()
	first(nil)
	waitFor(t, "the first batch's ack", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.acked == 10 })
	second(fault.NewPartial(map[int]error{4: fault.Permanentf("bad row")}))
	waitFor(t, "the second batch settled", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.acked == 20 && len(f.republished) == 1 })
	if got := f.republished[0].Headers[broker.HeaderRetryCount]; got != "1" {
		t.Fatalf("retry copy x-retry-count %q, want 1", got)
	}
	// A transient fate holds the third batch: it is handed again (and
	// again acked only after its new fate).
	mu.Lock()
	before := handed
	mu.Unlock()
	third(fault.Transient(errors.New("store down")))
	waitFor(t, "the held batch handed again", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return handed > before
	})
	// Settle everything from now on.
	for {
		mu.Lock()
		ds := dones[3:]
		dones = dones[:3]
		mu.Unlock()
		for _, d := range ds {
			d(nil)
		}
		f.mu.Lock()
		all := f.acked == 61 // 60 + the retry copy
		f.mu.Unlock()
		if all {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
}

// Stopping waits for the fates of the batches in flight and settles them.
func TestPipelinedStopSettlesInFlight(t *testing.T) {
	f := newFake()
	f.publish("a", "b", "c")
	r := newRunner(t, f, quick())
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan func(error), 10)
	ran := make(chan error, 1)
	go func() {
		ran <- r.RunPipelined(ctx, testQueue(nil), func(_ context.Context, _ []broker.Delivery, done func(error)) { got <- done }, nil)
	}()
	done := <-got
	cancel()
	select {
	case err := <-ran:
		t.Fatalf("RunPipelined returned (%v) with a batch in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	done(nil)
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if f.acked != 3 {
		t.Fatalf("acked %d, want 3", f.acked)
	}
}
