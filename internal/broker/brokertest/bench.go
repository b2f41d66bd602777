package brokertest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/consume"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// ConsumeAll is a consume benchmark's timed part: it consumes q from br
// with the consume policy until b.N messages were handled (failing b after
// five minutes), stops b's timer, then stops the consumer. It returns the
// time from the consumer's start to the b.N-th message.
func ConsumeAll(b *testing.B, br broker.Broker, q topology.Queue) time.Duration {
	b.Helper()
	var got atomic.Int64
	all := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		done <- consume.Run(ctx, br, q, func(_ context.Context, batch []broker.Delivery) error {
			if got.Add(int64(len(batch))) == int64(b.N) {
				close(all)
			}
			return nil
		})
	}()
	select {
	case <-all:
	case <-time.After(5 * time.Minute):
		b.Fatalf("consumed %d of %d", got.Load(), b.N)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return elapsed
}
