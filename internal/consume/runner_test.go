package consume

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
)

// A lost subscription (connection loss, queue deleted) is opened again;
// its deliveries come back and are handled, and Run does not return.
func TestRunnerResubscribes(t *testing.T) {
	f := newFake()
	r := newRunner(t, f, quick())
	var n atomic.Int32
	rn := start(t, r, testQueue(nil), func(context.Context, []broker.Delivery) error {
		n.Add(1)
		return nil
	})
	f.publish("a")
	waitFor(t, "a", func() bool { return n.Load() == 1 })
	f.mu.Lock()
	f.lostNext = true
	f.notify()
	f.mu.Unlock()
	waitFor(t, "a second subscription", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.subs == 2 })
	f.publish("b")
	waitFor(t, "b", func() bool { return n.Load() == 2 })
	select {
	case err := <-rn.done:
		t.Fatalf("Run returned %v after a lost subscription", err)
	default:
	}
	if got := testutil.ToFloat64(r.m.lost.WithLabelValues("q")); got != 1 {
		t.Errorf("lost metric %v, want 1", got)
	}
	if err := rn.stop(); err != nil {
		t.Fatal(err)
	}
	if f.open != 0 {
		t.Errorf("%d subscriptions left open", f.open)
	}
}

func TestRunnerSubscribeErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		fatal bool
	}{
		{"permanent", fault.Permanentf("no such queue"), true},
		{"closed", fmt.Errorf("x: %w", broker.ErrClosed), true},
		{"transient", fmt.Errorf("x: %w", broker.ErrUnavailable), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.subscribeErr = tc.err
			r := newRunner(t, f, quick())
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			err := r.Run(ctx, testQueue(nil), func(context.Context, []broker.Delivery) error { return nil })
			if tc.fatal {
				if !errors.Is(err, tc.err) || ctx.Err() != nil {
					t.Fatalf("Run = %v (ctx %v), want %v at once", err, ctx.Err(), tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Run with a transient subscribe error = %v, want it to keep trying and return nil at the end", err)
			}
		})
	}
}

// Concurrent workers of one queue share it; none handles a message twice.
func TestRunnerConsumers(t *testing.T) {
	f := newFake()
	r := newRunner(t, f, quick())
	q := testQueue(nil)
	q.Consumers = 3
	var n atomic.Int32
	start(t, r, q, func(_ context.Context, batch []broker.Delivery) error {
		n.Add(int32(len(batch)))
		return nil
	})
	for i := range 100 {
		f.publish(fmt.Sprint(i))
	}
	waitFor(t, "100 messages", func() bool { return n.Load() == 100 })
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs != 3 || f.acked != 100 {
		t.Errorf("subscriptions %d, acked %d; want 3, 100", f.subs, f.acked)
	}
}
