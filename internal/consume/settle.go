package consume

import (
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
)

// settleFailed settles a batch whose handler named messages that failed
// permanently: each of those is republished — a retry back to its queue
// or, once its retries are spent, a dead letter to the error exchange —
// and acked only after its copy was confirmed; the others are acked.
//
// Republishing is bounded: a copy the broker does not confirm (it refuses,
// the message is unroutable, the error queue is full) is counted in
// eventgrpc_consume_republish_failed_total and tried again after the hold
// backoff, at most RepublishAttempts times in all (fewer when ctx ends).
// Then the messages still unconfirmed are given back with a nak delayed by
// Hold.Max and the worker goes on: nothing is acked without its copy, and
// no worker is pinned by a broker that keeps refusing.
func (w *worker) settleFailed(ctx context.Context, sub broker.Subscription, batch []broker.Delivery, fm *fault.Partial) error {
	hctx := context.WithoutCancel(ctx)
	done := make([]broker.Delivery, 0, len(batch))
	var pending []broker.Republish
	for i, d := range batch {
		cause, bad := fm.Failed[i]
		if !bad {
			done = append(done, d)
			continue
		}
		pending = append(pending, copyOf(w.q, d, cause))
	}
	if len(pending) < len(fm.Failed) {
		var bogus []int
		for _, i := range slices.Sorted(maps.Keys(fm.Failed)) {
			if i < 0 || i >= len(batch) {
				bogus = append(bogus, i)
			}
		}
		w.r.log.Error("consume: handler named failed messages outside its batch; ignored",
			"queue", w.q.Name, "indexes", bogus, "batch", len(batch))
	}
	for attempt := 0; len(pending) > 0; attempt++ {
		err := sub.Republish(hctx, pending)
		var pe *broker.PublishError
		if err != nil && !errors.As(err, &pe) {
			pe = nil
		}
		var left []broker.Republish
		for k, r := range pending {
			var ferr error
			switch {
			case err == nil:
			case pe != nil:
				ferr = pe.Failed[k]
			default:
				ferr = err
			}
			if ferr != nil {
				left = append(left, r)
				w.r.m.republishFailed.WithLabelValues(w.q.Name, broker.ErrorKind(ferr)).Inc()
				continue
			}
			done = append(done, r.Delivery)
			if r.DeadLetter {
				w.r.m.deadLettered.WithLabelValues(w.q.Name).Inc()
				if w.r.cfg.OnDeadLetter != nil {
					w.r.cfg.OnDeadLetter(w.q.Name, r.Delivery, r.Headers[broker.HeaderErrorReason])
				}
			} else {
				w.r.m.retried.WithLabelValues(w.q.Name).Inc()
			}
		}
		pending = left
		if len(pending) == 0 {
			break
		}
		if attempt == 0 {
			w.r.log.Warn("consume: storing retries or dead letters failed; trying again",
				"queue", w.q.Name, "messages", len(pending), "err", err)
		}
		if attempt+1 >= w.r.cfg.RepublishAttempts || errors.Is(err, broker.ErrClosed) || !w.holdWait(ctx, attempt, 0) {
			break
		}
	}
	// Ack in batch order, so a contiguous run can go as one multiple ack.
	slices.SortFunc(done, func(a, b broker.Delivery) int {
		switch {
		case a.Tag < b.Tag:
			return -1
		case a.Tag > b.Tag:
			return 1
		}
		return 0
	})
	if err := w.settle(hctx, sub, done, broker.Ack); err != nil {
		return err
	}
	if len(pending) == 0 {
		return nil
	}
	back := make([]broker.Delivery, len(pending))
	for k, r := range pending {
		back[k] = r.Delivery
	}
	w.r.m.givenBack.WithLabelValues(w.q.Name).Add(float64(len(back)))
	w.r.log.Error("consume: retries or dead letters not stored after the allowed tries; giving the messages back for later",
		"queue", w.q.Name, "messages", len(back), "delay", w.r.cfg.Hold.Max)
	return w.settle(hctx, sub, back, broker.Nak(w.r.cfg.Hold.Max))
}
