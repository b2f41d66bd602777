package webhook

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
)

// ErrOverloaded is returned (wrapped in fault.Throttled) when a provider's
// workers are busy and its queue is full.
var ErrOverloaded = errors.New("webhook queue is full")

// pool is one provider's bounded set of publishing workers. Requests are
// handed over without waiting: a full queue is refused at once.
type pool struct {
	pub      broker.Publisher
	jobs     chan *job
	hint     string // what to raise, for the refusal message
	queued   prometheus.Gauge
	publish  prometheus.Observer
	wg       sync.WaitGroup
	mu       sync.RWMutex // guards closed against run's send
	closed   bool
	stopOnce sync.Once
	stopped  chan struct{}
}

type job struct {
	ctx      context.Context
	exchange string
	msgs     []broker.Message
	done     chan error // buffered: the worker never blocks on it
}

func newPool(pub broker.Publisher, workers, queue int, hint string, queued prometheus.Gauge, publish prometheus.Observer) *pool {
	p := &pool{
		pub:     pub,
		jobs:    make(chan *job, queue),
		hint:    hint,
		queued:  queued,
		publish: publish,
		stopped: make(chan struct{}),
	}
	p.wg.Add(workers)
	for range workers {
		go p.worker()
	}
	go func() { p.wg.Wait(); close(p.stopped) }()
	return p
}

func (p *pool) worker() {
	defer p.wg.Done()
	for j := range p.jobs {
		p.queued.Dec()
		if err := j.ctx.Err(); err != nil {
			j.done <- err // the client gave up while it waited
			continue
		}
		start := time.Now()
		err := p.pub.Publish(j.ctx, j.exchange, j.msgs)
		p.publish.Observe(time.Since(start).Seconds())
		j.done <- err
	}
}

// run publishes msgs on a worker and returns the broker's answer. It never
// waits for room: when the queue is full it returns a throttled error at
// once, and nothing is published.
func (p *pool) run(ctx context.Context, exchange string, msgs []broker.Message) error {
	j := &job{ctx: ctx, exchange: exchange, msgs: msgs, done: make(chan error, 1)}
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return fault.Transient(fmt.Errorf("webhook ingest is shutting down: %w", broker.ErrClosed))
	}
	select {
	case p.jobs <- j:
		p.queued.Inc()
		p.mu.RUnlock()
	default:
		p.mu.RUnlock()
		return fault.Throttled(fmt.Errorf("%w: %d requests waiting (%s)", ErrOverloaded, cap(p.jobs), p.hint), time.Second)
	}
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		// The worker still finishes (its publish sees the same ctx); the
		// client hears that it gave up and may retry — storage dedupes.
		return fault.Transient(ctx.Err())
	}
}

// shutdown stops taking requests, lets the workers finish the queued ones
// and waits for them within ctx. Safe to call twice.
func (p *pool) shutdown(ctx context.Context) error {
	p.stopOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		close(p.jobs)
		p.mu.Unlock()
	})
	select {
	case <-p.stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("webhook workers drain: %w", ctx.Err())
	}
}
