package consume

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// badHandler fails every message whose body is "bad" permanently.
func badHandler(handled *sync.Map) broker.BatchHandler {
	return func(_ context.Context, batch []broker.Delivery) error {
		failed := map[int]error{}
		for i, d := range batch {
			if string(d.Body) == "bad" {
				failed[i] = fault.Permanentf("bad row")
				continue
			}
			n, _ := handled.LoadOrStore(string(d.Body), new(atomic.Int32))
			n.(*atomic.Int32).Add(1)
		}
		if len(failed) > 0 {
			return fault.NewPartial(failed)
		}
		return nil
	}
}

// A broker that refuses every dead letter (the error queue is unroutable)
// does not pin the worker: after RepublishAttempts tries, counted by
// reason, the message is given back with a delay, never acked, and the
// worker goes on with other messages.
func TestRepublishBounded(t *testing.T) {
	f := newFake()
	var tries atomic.Int32
	f.republishErr = func(broker.Republish) error {
		tries.Add(1)
		return fmt.Errorf("no route to the error queue: %w", broker.ErrUnroutable)
	}
	cfg := quick()
	cfg.RepublishAttempts = 3
	r := newRunner(t, f, cfg)
	q := testQueue(func(q *topology.Queue) { q.MaxRetries = 0 })
	f.publish("g1", "bad", "g2")
	var handled sync.Map
	rn := start(t, r, q, badHandler(&handled))
	waitFor(t, "the bad message to be given back", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, d := range f.naks {
			if d == cfg.Hold.Max {
				return true
			}
		}
		return false
	})
	f.publish("later")
	waitFor(t, "a later message to be handled", func() bool { _, ok := handled.Load("later"); return ok })
	if err := rn.stop(); err != nil {
		t.Fatal(err)
	}
	if n := tries.Load(); n < 3 {
		t.Errorf("%d republish tries, want at least 3", n)
	}
	failedMetric := testutil.ToFloat64(r.m.republishFailed.WithLabelValues("q", "unroutable"))
	if failedMetric != float64(tries.Load()) {
		t.Errorf("republish_failed{unroutable} = %v, want %d (one per failed try)", failedMetric, tries.Load())
	}
	if testutil.ToFloat64(r.m.givenBack.WithLabelValues("q")) < 1 {
		t.Error("given_back not counted")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.acked != 3 { // g1, g2, later; never bad
		t.Errorf("acked %d messages, want 3 (the bad one must not be acked without its dead letter)", f.acked)
	}
	if len(f.errorQ) != 0 {
		t.Errorf("error queue holds %d", len(f.errorQ))
	}
}

// A republish that fails a few times and then goes through settles the
// message: copy stored, original acked.
func TestRepublishRecovers(t *testing.T) {
	f := newFake()
	var tries atomic.Int32
	f.republishErr = func(broker.Republish) error {
		if tries.Add(1) <= 2 {
			return fmt.Errorf("error queue full: %w", broker.ErrOverloaded)
		}
		return nil
	}
	r := newRunner(t, f, quick())
	q := testQueue(func(q *topology.Queue) { q.MaxRetries = 0 })
	f.publish("bad")
	var handled sync.Map
	start(t, r, q, badHandler(&handled))
	waitFor(t, "the dead letter", func() bool { _, _, e := f.counts(); return e == 1 })
	waitFor(t, "the ack", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.acked == 1 })
	if got := testutil.ToFloat64(r.m.republishFailed.WithLabelValues("q", "overloaded")); got != 2 {
		t.Errorf("republish_failed{overloaded} = %v, want 2", got)
	}
	if got := testutil.ToFloat64(r.m.deadLettered.WithLabelValues("q")); got != 1 {
		t.Errorf("dead_lettered = %v, want 1", got)
	}
}

// A handler naming indexes outside its batch does not crash the worker or
// fail the real messages.
func TestFailedIndexOutOfRange(t *testing.T) {
	f := newFake()
	r := newRunner(t, f, quick())
	f.publish("a", "b")
	start(t, r, testQueue(nil), func(_ context.Context, batch []broker.Delivery) error {
		return fault.NewPartial(map[int]error{-1: fault.Permanentf("x"), len(batch) + 3: fault.Permanentf("y")})
	})
	waitFor(t, "both acked", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.acked == 2 })
	time.Sleep(20 * time.Millisecond)
	if len(f.republished) != 0 {
		t.Errorf("%d copies republished for bogus indexes", len(f.republished))
	}
}
