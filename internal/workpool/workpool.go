// Package workpool is the bounded worker pool that ingest paths hand
// requests to: a fixed number of workers fed by a bounded queue. Submit
// never waits for room; a full queue is refused at once, so overload is
// seen (and counted) by the caller instead of piling up in memory.
package workpool

import (
	"context"
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	// ErrFull: every worker is busy and the queue is full.
	ErrFull = errors.New("work queue is full")
	// ErrClosed: the pool no longer takes jobs.
	ErrClosed = errors.New("work pool is closed")
)

// Pool runs jobs of type J with a fixed number of workers.
type Pool[J any] struct {
	jobs     chan J
	queued   prometheus.Gauge // jobs waiting for a worker; may be nil
	mu       sync.RWMutex     // guards closed against Submit's send
	closed   bool
	stopOnce sync.Once
	stopped  chan struct{}
}

// New starts workers (at least one) that run work on each job; queue is
// how many jobs may wait for a worker. queued, when not nil, follows the
// number of waiting jobs.
func New[J any](workers, queue int, queued prometheus.Gauge, work func(J)) *Pool[J] {
	p := &Pool[J]{jobs: make(chan J, queue), queued: queued, stopped: make(chan struct{})}
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Go(func() {
			for j := range p.jobs {
				p.gauge(-1)
				work(j)
			}
		})
	}
	go func() { wg.Wait(); close(p.stopped) }()
	return p
}

// Submit queues j for a worker, or returns ErrFull or ErrClosed at once.
func (p *Pool[J]) Submit(j J) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrClosed
	}
	p.gauge(+1) // before the send: the worker's decrement may come first
	select {
	case p.jobs <- j:
		return nil
	default:
		p.gauge(-1)
		return ErrFull
	}
}

func (p *Pool[J]) gauge(d float64) {
	if p.queued != nil {
		p.queued.Add(d)
	}
}

// Cap is how many jobs may wait; Len how many wait now.
func (p *Pool[J]) Cap() int { return cap(p.jobs) }
func (p *Pool[J]) Len() int { return len(p.jobs) }

// Close stops taking jobs; the workers still run the queued ones and then
// return (see Stopped). Safe to call twice.
func (p *Pool[J]) Close() {
	p.stopOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		close(p.jobs)
		p.mu.Unlock()
	})
}

// Stopped is closed once, after Close, every worker has returned.
func (p *Pool[J]) Stopped() <-chan struct{} { return p.stopped }

// Drain is Close, then a wait within ctx for the workers to finish the
// queued jobs: nil once they all returned, else ctx's error. Safe to call
// twice.
func (p *Pool[J]) Drain(ctx context.Context) error {
	p.Close()
	select {
	case <-p.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
