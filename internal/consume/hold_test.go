package consume

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/consume/consumetest"
	"github.com/event-grpc/event-grpc/internal/fault"
)

// A transient failure holds the batch: the same messages are handed again
// with no retry spent, nothing is acked or republished until it succeeds.
func TestHoldTransient(t *testing.T) {
	f := newFake()
	f.publish("m1", "m2", "m3")
	r := newRunner(t, f, quick())
	held := consumetest.NewHeld(t, 3, fault.Transient(errors.New("sink down")))
	rn := start(t, r, testQueue(nil), held.Handle)
	waitFor(t, "the acks", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.acked == 3 })
	if err := rn.stop(); err != nil {
		t.Fatal(err)
	}
	calls := held.Calls()
	if len(calls) != 4 {
		t.Fatalf("handler called %d times, want 4", len(calls))
	}
	for i := range calls {
		if !slices.Equal(calls[i], []string{"m1", "m2", "m3"}) {
			t.Errorf("call %d got %v, want the held batch", i, calls[i])
		}
	}
	if len(f.republished) != 0 {
		t.Errorf("%d copies republished for transient failures", len(f.republished))
	}
	if got := testutil.ToFloat64(r.m.held.WithLabelValues("q")); got != 3 {
		t.Errorf("held metric %v, want 3", got)
	}
}

// Stopping during a hold gives the batch back (nak) rather than acking it
// or waiting for the sink.
func TestHoldStopGivesBack(t *testing.T) {
	f := newFake()
	f.publish("m1", "m2")
	r := newRunner(t, f, quick())
	called := make(chan struct{}, 1)
	rn := start(t, r, testQueue(nil), func(context.Context, []broker.Delivery) error {
		select {
		case called <- struct{}{}:
		default:
		}
		return fmt.Errorf("db down")
	})
	<-called
	if err := rn.stop(); err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
	ready, unacked, errq := f.counts()
	if ready != 2 || unacked != 0 || errq != 0 || f.acked != 0 {
		t.Errorf("after stop: ready %d unacked %d error %d acked %d; want 2 0 0 0", ready, unacked, errq, f.acked)
	}
}
