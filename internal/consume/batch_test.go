package consume

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/backoff"
	"github.com/event-grpc/event-grpc/internal/topology"
)

var backoffQuick = backoff.Policy{Initial: time.Millisecond, Max: 5 * time.Millisecond}

func TestBatcherBounds(t *testing.T) {
	big := strings.Repeat("x", 5000)
	mid := strings.Repeat("m", 400)
	tests := []struct {
		name   string
		limits topology.Batch
		bodies []string
		want   []int // batch sizes
	}{
		{"max messages", topology.Batch{MaxMessages: 10, MaxBytes: 1 << 20, MaxWait: 20 * time.Millisecond},
			repeat("a", 25), []int{10, 10, 5}},
		{"max bytes carries the rest", topology.Batch{MaxMessages: 100, MaxBytes: 1000, MaxWait: 20 * time.Millisecond},
			repeat(mid, 5), []int{2, 2, 1}},
		{"a message above max bytes goes alone", topology.Batch{MaxMessages: 100, MaxBytes: 1000, MaxWait: 20 * time.Millisecond},
			[]string{"a", big, "b"}, []int{1, 1, 1}},
		{"max age closes a short batch", topology.Batch{MaxMessages: 100, MaxBytes: 1 << 20, MaxWait: 20 * time.Millisecond},
			repeat("a", 3), []int{3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.publish(tc.bodies...)
			q := testQueue(func(q *topology.Queue) { q.Batch = tc.limits })
			sub, _ := f.Subscribe(context.Background(), q)
			defer sub.Close()
			b := newBatcher(sub, tc.limits, 20*time.Millisecond)
			var got []int
			var seen []string
			for {
				batch, err := b.next(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if len(batch) == 0 {
					break
				}
				got = append(got, len(batch))
				size := 0
				for _, d := range batch {
					seen = append(seen, string(d.Body))
					size += len(d.Body)
				}
				if len(batch) > tc.limits.MaxMessages || (len(batch) > 1 && size > tc.limits.MaxBytes) {
					t.Errorf("batch of %d messages, %d bytes exceeds %+v", len(batch), size, tc.limits)
				}
			}
			if !equalInts(got, tc.want) {
				t.Errorf("batch sizes %v, want %v", got, tc.want)
			}
			if strings.Join(seen, ",") != strings.Join(tc.bodies, ",") {
				t.Errorf("messages lost, repeated or reordered")
			}
		})
	}
}

// A batch is closed MaxWait after its first message even while messages
// trickle in: the age bound holds, not only the count.
func TestBatcherAgeFromFirstMessage(t *testing.T) {
	f := newFake()
	q := testQueue(nil)
	limits := topology.Batch{MaxMessages: 1000, MaxBytes: 1 << 20, MaxWait: 50 * time.Millisecond}
	sub, _ := f.Subscribe(context.Background(), q)
	defer sub.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() { // one message every 5 ms, for ever
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				f.publish("t")
			}
		}
	}()
	b := newBatcher(sub, limits, time.Second)
	batch, err := b.next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(batch) == 0 || len(batch) >= limits.MaxMessages {
		t.Fatalf("batch of %d; want the age bound to close it well before %d", len(batch), limits.MaxMessages)
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
