package consume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-grpc/event-grpc/internal/backoff"
	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/telemetry"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// RunnerConfig holds the delivery policy settings that are not in the
// topology (which gives each queue's consumers, prefetch, batch bounds and
// retry budget). Zero values mean the defaults.
type RunnerConfig struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Hold paces handing a held batch again after a transient failure and
	// trying a failed republish again. Default backoff.Default (100 ms
	// doubling to 10 s, full jitter).
	Hold backoff.Policy
	// Resubscribe paces opening a lost subscription again. Default 100 ms
	// doubling to 2 s, so consumption resumes within about 2 s of the
	// broker coming back.
	Resubscribe backoff.Policy
	// RepublishAttempts bounds the tries to store the retries and dead
	// letters of one batch. When they run out the unconfirmed messages are
	// given back (nak after Hold.Max) and the worker moves on; they fail and
	// are republished again on their next delivery. Default 5.
	RepublishAttempts int
	// IdleWait is how long one fetch waits for a first message; it bounds
	// how long a worker takes to notice its context ended. Default 1 s.
	IdleWait time.Duration
	// OnDeadLetter, when set, is called once for each message whose dead
	// letter the broker confirmed, with the reason it carries (for error
	// reporting). It must not block.
	OnDeadLetter func(queue string, d broker.Delivery, reason string)
}

func (c RunnerConfig) withDefaults() RunnerConfig {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Hold.Initial <= 0 {
		c.Hold = backoff.Default
	}
	if c.Resubscribe.Initial <= 0 {
		c.Resubscribe = backoff.Policy{Initial: 100 * time.Millisecond, Max: 2 * time.Second}
	}
	if c.RepublishAttempts <= 0 {
		c.RepublishAttempts = 5
	}
	if c.IdleWait <= 0 {
		c.IdleWait = time.Second
	}
	return c
}

// Runner drives a broker.Transport with the delivery policy: it batches
// each queue's deliveries, hands them to a broker.BatchHandler and settles
// them by its result — ack; hold and hand again on a transient error;
// retry with x-retry-count or dead-letter the messages that failed
// permanently. It is the only place that policy is written; both brokers
// run it. Safe for concurrent use: one Runner serves every queue.
type Runner struct {
	t   broker.Transport
	cfg RunnerConfig
	log *slog.Logger
	m   *policyMetrics
}

// NewRunner returns a runner of t. It fails only when its metrics cannot
// be registered.
func NewRunner(t broker.Transport, cfg RunnerConfig) (*Runner, error) {
	cfg = cfg.withDefaults()
	m, err := newPolicyMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Runner{t: t, cfg: cfg, log: cfg.Logger, m: m}, nil
}

// Run runs q.Consumers workers on q, each on its own subscription, handing
// batches to h (see broker.BatchHandler for what its result does). It
// blocks until ctx ends, then lets every batch in hand finish and be
// settled, and returns nil. It returns an error wrapping broker.ErrClosed
// when the broker closes first, or the error of a queue that can never be
// consumed (fault.Permanent). A lost subscription (connection loss, the
// queue deleted) is not an error: the worker subscribes again with backoff.
func (r *Runner) Run(ctx context.Context, q topology.Queue, h broker.BatchHandler) error {
	if h == nil {
		return fmt.Errorf("consume %q: nil handler", q.Name)
	}
	return r.runWorkers(ctx, q, func(q topology.Queue, i int) *worker { return &worker{r: r, q: q, h: h, n: i} })
}

// runWorkers runs q.Consumers workers made by mk until ctx ends or one
// fails fatally, which stops the others.
func (r *Runner) runWorkers(ctx context.Context, q topology.Queue, mk func(q topology.Queue, i int) *worker) error {
	if q.Name == "" {
		return errors.New("consume: queue has no name")
	}
	q = q.WithBatchDefaults()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, q.Consumers)
	var wg sync.WaitGroup
	for i := range q.Consumers {
		w := mk(q, i)
		wg.Go(func() {
			errs[i] = w.run(ctx)
			if errs[i] != nil {
				cancel() // one worker's fatal error stops the others
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Run is NewRunner(t, RunnerConfig{}).Run(ctx, q, h): the policy with
// default settings and unregistered metrics.
func Run(ctx context.Context, t broker.Transport, q topology.Queue, h broker.BatchHandler) error {
	r, err := NewRunner(t, RunnerConfig{})
	if err != nil {
		return err
	}
	return r.Run(ctx, q, h)
}

// worker is one consumer of a queue.
type worker struct {
	r *Runner
	q topology.Queue
	h broker.BatchHandler
	// async, when set, is the handler h waits on; the worker pipelines
	// (consumePipelined).
	async   AsyncHandler
	stalled func() // pipelined: called before waiting on a full window
	n       int
}

// run subscribes, consumes until the subscription is lost, and subscribes
// again, until ctx ends or a fatal error.
func (w *worker) run(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		if ctx.Err() != nil {
			return nil
		}
		sub, err := w.r.t.Subscribe(ctx, w.q)
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return nil
			case errors.Is(err, broker.ErrClosed), fault.IsPermanent(err):
				return fmt.Errorf("consume %q: %w", w.q.Name, err)
			}
			if attempt == 0 {
				w.r.log.Warn("consume: subscribing failed; trying again", "queue", w.q.Name, "consumer", w.n, "err", err)
			}
			if w.r.cfg.Resubscribe.Sleep(ctx, attempt) != nil {
				return nil
			}
			continue
		}
		var handled bool
		if w.async != nil {
			handled, err = w.consumePipelined(ctx, sub)
		} else {
			handled, err = w.consume(ctx, sub)
		}
		_ = sub.Close()
		switch {
		case err == nil:
			return nil
		case errors.Is(err, broker.ErrClosed):
			return fmt.Errorf("consume %q: %w", w.q.Name, err)
		}
		w.r.m.lost.WithLabelValues(w.q.Name).Inc()
		if handled {
			attempt = -1 // it worked for a while: start the backoff afresh
		}
		w.r.log.Warn("consume: subscription lost; subscribing again", "queue", w.q.Name, "consumer", w.n, "err", err)
		if w.r.cfg.Resubscribe.Sleep(ctx, max(attempt, 0)) != nil {
			return nil
		}
	}
}

// consume hands sub's batches to the handler until ctx ends (nil) or the
// subscription cannot go on (an error wrapping broker.ErrLost or
// broker.ErrClosed). handled reports that a batch was settled.
func (w *worker) consume(ctx context.Context, sub broker.Subscription) (handled bool, err error) {
	b := newBatcher(sub, w.q.Batch, w.r.cfg.IdleWait)
	failures := 0
	for {
		if ctx.Err() != nil {
			return handled, nil // Close gives back what the batcher carries
		}
		batch, ferr := b.next(ctx)
		if len(batch) > 0 {
			if err := w.handle(ctx, sub, batch); err != nil {
				return handled, err
			}
			handled = true
		}
		switch {
		case ferr == nil:
			failures = 0
		case ctx.Err() != nil:
			return handled, nil
		case errors.Is(ferr, broker.ErrClosed), errors.Is(ferr, broker.ErrLost):
			return handled, ferr
		default:
			if failures == 0 {
				w.r.log.Warn("consume: fetch failed; trying again", "queue", w.q.Name, "consumer", w.n, "err", ferr)
			}
			if w.r.cfg.Resubscribe.Sleep(ctx, failures) != nil {
				return handled, nil
			}
			failures++
		}
	}
}

// settle applies f to ds, counting what could not be settled. It returns
// an error only when the subscription cannot go on.
func (w *worker) settle(ctx context.Context, sub broker.Subscription, ds []broker.Delivery, f broker.Fate) error {
	if len(ds) == 0 {
		return nil
	}
	err := sub.Settle(ctx, ds, f)
	if err == nil {
		return nil
	}
	w.r.m.settleFailed.WithLabelValues(w.q.Name).Add(float64(len(ds)))
	if errors.Is(err, broker.ErrLost) || errors.Is(err, broker.ErrClosed) {
		return err
	}
	w.r.log.Warn("consume: settling failed; the messages will be delivered again",
		"queue", w.q.Name, "messages", len(ds), "err", err)
	return nil
}

// policyMetrics are the runner's counters.
type policyMetrics struct {
	held            *prometheus.CounterVec // queue
	retried         *prometheus.CounterVec // queue
	deadLettered    *prometheus.CounterVec // queue
	republishFailed *prometheus.CounterVec // queue, reason
	givenBack       *prometheus.CounterVec // queue
	settleFailed    *prometheus.CounterVec // queue
	lost            *prometheus.CounterVec // queue
}

func newPolicyMetrics(reg prometheus.Registerer) (*policyMetrics, error) {
	vec := telemetry.NewCounterVec
	m := &policyMetrics{
		held: vec("eventgrpc_consume_batches_held_total",
			"Handler calls that failed transiently: the batch was held and handed again after a backoff, without spending retries; by queue.", "queue"),
		retried: vec("eventgrpc_consume_retried_messages_total",
			"Messages that failed permanently and were republished to their queue with x-retry-count raised, by queue.", "queue"),
		deadLettered: vec("eventgrpc_consume_dead_lettered_messages_total",
			"Messages sent to the error exchange after their retries were spent, by queue.", "queue"),
		republishFailed: vec("eventgrpc_consume_republish_failed_total",
			"Retries or dead letters the broker did not confirm (each failed try counts), by queue and reason (unroutable, overloaded, unavailable, closed, canceled, other); the original stays unacked.", "queue", "reason"),
		givenBack: vec("eventgrpc_consume_republish_given_back_total",
			"Failed messages given back to their queue (nak with delay) because their retry or dead letter could not be stored in the allowed tries, by queue.", "queue"),
		settleFailed: vec("eventgrpc_consume_settle_failed_total",
			"Deliveries whose ack or nak could not be sent (they will be delivered again), by queue.", "queue"),
		lost: vec("eventgrpc_consume_subscriptions_lost_total",
			"Subscriptions lost (connection loss, queue or consumer deleted) and opened again, by queue.", "queue"),
	}
	if err := telemetry.Register(reg, &m.held, &m.retried, &m.deadLettered, &m.republishFailed, &m.givenBack, &m.settleFailed, &m.lost); err != nil {
		return nil, fmt.Errorf("consume: %w", err)
	}
	return m, nil
}
