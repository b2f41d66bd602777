package consume

import (
	"context"
	"errors"
	"fmt"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// AsyncHandler is a broker.BatchHandler that may return before the
// batch's fate is known: it calls done exactly once, possibly from
// another goroutine, with what a BatchHandler would have returned. It may
// wait before returning (for memory), but not for a database. done must
// not block.
type AsyncHandler func(ctx context.Context, batch []broker.Delivery, done func(error))

// RunPipelined is Run for a handler whose writes gather the rows of many
// batches into one insert (a sink.Submitter behind it): each worker goes
// on fetching and handing batches while earlier ones wait for their
// insert, up to Prefetch/MaxMessages-1 batches (at least one), so the
// broker's prefetch window always has room for a full batch more. Fates
// are settled in the order the batches were handed, by the same policy
// as Run: ack after commit, retry or dead-letter the messages that failed
// permanently, and a batch that failed transiently is held and handed
// again (synchronously, the worker waiting) with backoff. When ctx ends
// every batch in hand is awaited and settled. stalled, when not nil, is
// called when a worker has as many batches in flight as it may and waits
// for the oldest (the sink should insert what it holds rather than wait
// for more).
func (r *Runner) RunPipelined(ctx context.Context, q topology.Queue, h AsyncHandler, stalled func()) error {
	if h == nil {
		return fmt.Errorf("consume %q: nil handler", q.Name)
	}
	return r.runWorkers(ctx, q, func(q topology.Queue, i int) *worker {
		return &worker{r: r, q: q, h: Sync(h), async: h, stalled: stalled, n: i}
	})
}

// Sync is h as a broker.BatchHandler: it waits for the fate.
func Sync(h AsyncHandler) broker.BatchHandler {
	return func(ctx context.Context, batch []broker.Delivery) error {
		fate := make(chan error, 1)
		h(ctx, batch, func(err error) { fate <- err })
		return <-fate
	}
}

// inFlight is a batch handed to an AsyncHandler whose fate may not be
// known yet.
type inFlight struct {
	batch []broker.Delivery
	fate  chan error // cap 1
}

// consumePipelined is consume for an AsyncHandler.
func (w *worker) consumePipelined(ctx context.Context, sub broker.Subscription) (handled bool, err error) {
	b := newBatcher(sub, w.q.Batch, w.r.cfg.IdleWait)
	depth := max(1, w.q.Prefetch/w.q.Batch.MaxMessages-1)
	hctx := context.WithoutCancel(ctx)
	var queue []inFlight
	// next waits for the oldest batch's fate and settles it; once the
	// subscription is gone the fates are only awaited (the deliveries are
	// back in the queue).
	var gone error
	next := func() error {
		p := queue[0]
		queue[0] = inFlight{}
		queue = queue[1:]
		ferr := <-p.fate
		if gone != nil {
			return gone
		}
		if err := w.settleFate(ctx, sub, p.batch, ferr); err != nil {
			gone = err
			return err
		}
		handled = true
		return nil
	}
	drain := func() error {
		for len(queue) > 0 {
			_ = next()
		}
		return gone
	}
	failures := 0
	for {
		if ctx.Err() != nil {
			_ = drain()
			return handled, nil // Close gives back what the batcher carries
		}
		if len(queue) >= depth && len(queue[0].fate) == 0 && w.stalled != nil {
			w.stalled()
		}
		for len(queue) > 0 && (len(queue) >= depth || len(queue[0].fate) > 0) {
			if err := next(); err != nil {
				_ = drain()
				return handled, err
			}
		}
		batch, ferr := b.next(ctx)
		if len(batch) > 0 {
			for i := range batch {
				batch[i].RetryCount = retryCount(batch[i].Headers)
			}
			p := inFlight{batch: batch, fate: make(chan error, 1)}
			w.async(hctx, batch, func(err error) { p.fate <- err })
			queue = append(queue, p)
		}
		switch {
		case ferr == nil:
			failures = 0
		case ctx.Err() != nil:
			_ = drain()
			return handled, nil
		case errors.Is(ferr, broker.ErrClosed), errors.Is(ferr, broker.ErrLost):
			gone = ferr
			_ = drain()
			return handled, ferr
		default:
			if failures == 0 {
				w.r.log.Warn("consume: fetch failed; trying again", "queue", w.q.Name, "consumer", w.n, "err", ferr)
			}
			if w.r.cfg.Resubscribe.Sleep(ctx, failures) != nil {
				_ = drain()
				return handled, nil
			}
			failures++
		}
	}
}
