package workpool

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// One worker busy and a queue of one: the third job is refused at once,
// the queued one still runs after Close, and nothing is taken after it.
func TestBoundedAndDrained(t *testing.T) {
	block := make(chan struct{})
	started := make(chan int, 3)
	var ran atomic.Int32
	queued := prometheus.NewGauge(prometheus.GaugeOpts{Name: "q"})
	p := New(1, 1, queued, func(j int) {
		started <- j
		<-block
		ran.Add(1)
	})
	if err := p.Submit(1); err != nil {
		t.Fatal(err)
	}
	<-started // the worker holds job 1
	if err := p.Submit(2); err != nil {
		t.Fatal(err)
	}
	if p.Len() != 1 || testutil.ToFloat64(queued) != 1 {
		t.Fatalf("queued: len %d, gauge %v; want 1 and 1", p.Len(), testutil.ToFloat64(queued))
	}
	if err := p.Submit(3); !errors.Is(err, ErrFull) {
		t.Fatalf("third job: %v, want ErrFull", err)
	}
	p.Close()
	p.Close() // twice is fine
	if err := p.Submit(4); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
	close(block)
	select {
	case <-p.Stopped():
	case <-time.After(5 * time.Second):
		t.Fatal("workers did not stop")
	}
	if got := ran.Load(); got != 2 {
		t.Fatalf("ran %d jobs, want the 2 accepted ones", got)
	}
	if g := testutil.ToFloat64(queued); g != 0 {
		t.Fatalf("gauge %v after the drain, want 0", g)
	}
}

// Drain gives up at ctx's end while a worker still runs a job, and
// returns nil once the workers finished; it may be called again.
func TestDrainWithinContext(t *testing.T) {
	block := make(chan struct{})
	p := New(1, 1, nil, func(int) { <-block })
	if err := p.Submit(1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Drain(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("drain with a job running: %v, want the deadline", err)
	}
	close(block)
	if err := p.Drain(context.Background()); err != nil {
		t.Fatalf("drain after the job ended: %v", err)
	}
}
