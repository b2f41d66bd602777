package consume

import (
	"context"
	"errors"
	"time"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
)

// handle hands batch to the handler until it is settled. A transient
// failure holds the batch: nothing is acked, no retry is spent, and the
// same batch is handed again after an exponential backoff with jitter (at
// least the error's retry hint), for as long as it takes, since a database
// down for a minute must not send good data to the error queue. When ctx
// ends during a hold the batch is given back (nak) and handle returns nil.
//
// The handler runs on a context that outlives ctx, so a batch in hand when
// the worker is asked to stop is still written and acked. handle returns an
// error only when the subscription cannot go on (lost or closed).
func (w *worker) handle(ctx context.Context, sub broker.Subscription, batch []broker.Delivery) error {
	for i := range batch {
		batch[i].RetryCount = retryCount(batch[i].Headers)
	}
	return w.settleFate(ctx, sub, batch, w.h(context.WithoutCancel(ctx), batch))
}

// settleFate settles batch by its handler's result err, holding it and
// handing it again (as handle says) while that result is transient.
func (w *worker) settleFate(ctx context.Context, sub broker.Subscription, batch []broker.Delivery, err error) error {
	hctx := context.WithoutCancel(ctx)
	for attempt := 0; ; attempt++ {
		if err == nil {
			return w.settle(hctx, sub, batch, broker.Ack)
		}
		if p, ok := fault.AsPartial(err); ok {
			return w.settleFailed(ctx, sub, batch, p)
		}
		w.r.m.held.WithLabelValues(w.q.Name).Inc()
		if attempt == 0 {
			w.r.log.Warn("consume: batch failed; holding it and handing it again after a backoff",
				"queue", w.q.Name, "messages", len(batch), "err", err)
		}
		if !w.holdWait(ctx, attempt, fault.RetryAfter(err)) {
			return w.settle(hctx, sub, batch, broker.Nak(0))
		}
		// Still ours? A lost subscription's deliveries are back in the
		// queue; handing them again would be wasted work.
		if err := sub.Settle(hctx, batch, broker.InProgress); err != nil {
			if errors.Is(err, broker.ErrLost) || errors.Is(err, broker.ErrClosed) {
				return err
			}
		}
		err = w.h(hctx, batch)
	}
}

// holdWait waits the hold backoff of attempt, at least hint; false when ctx
// ended first.
func (w *worker) holdWait(ctx context.Context, attempt int, hint time.Duration) bool {
	t := time.NewTimer(max(w.r.cfg.Hold.Delay(attempt), hint))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
