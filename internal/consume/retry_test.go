package consume

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/topology"
)

func TestRetryCount(t *testing.T) {
	for _, tc := range []struct {
		h    map[string]string
		want int
	}{
		{nil, 0},
		{map[string]string{broker.HeaderRetryCount: "3"}, 3},
		{map[string]string{broker.HeaderRetryCount: "-1"}, 0},
		{map[string]string{broker.HeaderRetryCount: "x"}, 0},
	} {
		if got := retryCount(tc.h); got != tc.want {
			t.Errorf("retryCount(%v) = %d, want %d", tc.h, got, tc.want)
		}
	}
}

// copyOf retries while the budget lasts, then dead-letters.
func TestCopyOfDecision(t *testing.T) {
	q := testQueue(func(q *topology.Queue) { q.MaxRetries = 2 })
	d := broker.Delivery{Queue: "q", Exchange: "ex", RoutingKey: "rk", Headers: map[string]string{"own": "v"}, Body: []byte("b")}
	for count, wantDead := range []bool{false, false, true, true} {
		d.RetryCount = count
		r := copyOf(q, d, errors.New("bad"))
		if r.DeadLetter != wantDead {
			t.Errorf("retry count %d: dead letter %v, want %v", count, r.DeadLetter, wantDead)
		}
		want := map[string]string{
			"own":                           "v",
			broker.HeaderOriginalExchange:   "ex",
			broker.HeaderOriginalRoutingKey: "rk",
			broker.HeaderErrorReason:        "bad",
		}
		if wantDead {
			want[broker.HeaderRetryCount] = itoa(count)
			want[broker.HeaderOriginalQueue] = "q"
		} else {
			want[broker.HeaderRetryCount] = itoa(count + 1)
		}
		for k, v := range want {
			if r.Headers[k] != v {
				t.Errorf("retry count %d: header %s = %q, want %q", count, k, r.Headers[k], v)
			}
		}
		if d.Headers[broker.HeaderRetryCount] != "" {
			t.Fatal("copyOf changed the delivery's own headers")
		}
	}
	if r := copyOf(q, d, nil); r.Headers[broker.HeaderErrorReason] == "" {
		t.Error("a nil cause left x-error-reason empty")
	}
}

// Through the runner: a bad message comes back with x-retry-count 1, 2 and
// then lands in the error queue; its neighbour is acked once.
func TestRetryThenDeadLetter(t *testing.T) {
	f := newFake()
	f.publish("good", "bad")
	r := newRunner(t, f, quick())
	var mu sync.Mutex
	var counts []int
	good := 0
	start(t, r, testQueue(nil), func(_ context.Context, batch []broker.Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		failed := map[int]error{}
		for i, d := range batch {
			if string(d.Body) == "bad" {
				counts = append(counts, d.RetryCount)
				failed[i] = fault.Permanentf("bad row")
			} else {
				good++
			}
		}
		if len(failed) > 0 {
			return fault.NewPartial(failed)
		}
		return nil
	})
	waitFor(t, "the dead letter", func() bool { _, _, e := f.counts(); return e == 1 })
	mu.Lock()
	defer mu.Unlock()
	if !equalInts(counts, []int{0, 1, 2}) || good != 1 {
		t.Errorf("bad handed with counts %v (want [0 1 2]), good %d times (want 1)", counts, good)
	}
	if got := f.errorQ[0].headers[broker.HeaderRetryCount]; got != "2" {
		t.Errorf("dead letter x-retry-count %q, want 2", got)
	}
	if got := f.acked; got != 4 { // good, and bad three times after each copy
		t.Errorf("acked %d, want 4", got)
	}
}

func itoa(n int) string { return string(rune('0' + n)) }
