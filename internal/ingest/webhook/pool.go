package webhook

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/workpool"
)

// pool is one provider's bounded set of publishing workers. Requests are
// handed over without waiting: a full queue is refused at once.
type pool struct {
	pub     broker.Publisher
	hint    string // what to raise, for the refusal message
	publish prometheus.Observer
	w       *workpool.Pool[*job]
}

type job struct {
	ctx      context.Context
	exchange string
	msgs     []broker.Message
	done     chan error // buffered: the worker never blocks on it
}

func newPool(pub broker.Publisher, workers, queue int, hint string, queued prometheus.Gauge, publish prometheus.Observer) *pool {
	p := &pool{pub: pub, hint: hint, publish: publish}
	p.w = workpool.New(workers, queue, queued, p.work)
	return p
}

func (p *pool) work(j *job) {
	if err := j.ctx.Err(); err != nil {
		j.done <- err // the client gave up while it waited
		return
	}
	start := time.Now()
	err := p.pub.Publish(j.ctx, j.exchange, j.msgs)
	p.publish.Observe(time.Since(start).Seconds())
	j.done <- err
}

// run publishes msgs on a worker and returns the broker's answer. It never
// waits for room: when the queue is full it returns a throttled error at
// once, and nothing is published.
func (p *pool) run(ctx context.Context, exchange string, msgs []broker.Message) error {
	j := &job{ctx: ctx, exchange: exchange, msgs: msgs, done: make(chan error, 1)}
	if err := p.w.Submit(j); err != nil {
		if errors.Is(err, workpool.ErrFull) {
			return fault.Throttled(fmt.Errorf("%w: webhook queue is full: %d requests waiting (%s)", fault.ErrOverloaded, p.w.Cap(), p.hint), time.Second)
		}
		return fault.Transient(fmt.Errorf("webhook ingest is shutting down: %w", broker.ErrClosed))
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
	if err := p.w.Drain(ctx); err != nil {
		return fmt.Errorf("webhook workers drain: %w", err)
	}
	return nil
}
