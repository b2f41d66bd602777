package consume

import (
	"context"
	"errors"
	"time"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// batcher cuts one subscription's deliveries into batches of at most
// MaxMessages messages and MaxBytes body bytes (a single larger message is
// a batch of its own), closed MaxWait after their first message arrived.
// Deliveries fetched beyond a batch's bounds are carried into the next one.
type batcher struct {
	sub      broker.Subscription
	limits   topology.Batch
	idleWait time.Duration
	carry    []broker.Delivery
}

func newBatcher(sub broker.Subscription, limits topology.Batch, idleWait time.Duration) *batcher {
	return &batcher{sub: sub, limits: limits, idleWait: idleWait}
}

// next returns the next batch: it waits up to idleWait for a first message
// (none: an empty batch and nil), then gathers more until the batch is full
// or MaxWait has passed since. With a Fetch error it returns what it
// gathered and the error, except for broker.ErrLost, where the gathered
// deliveries are void and it returns none.
func (b *batcher) next(ctx context.Context) ([]broker.Delivery, error) {
	var batch []broker.Delivery
	size := 0
	// add appends ds until the batch is full, carrying the rest; it
	// reports whether the batch is full.
	add := func(ds []broker.Delivery) bool {
		for i, d := range ds {
			n := len(d.Body)
			if len(batch) > 0 && (len(batch) >= b.limits.MaxMessages || size+n > b.limits.MaxBytes) {
				b.carry = append(b.carry, ds[i:]...)
				return true
			}
			batch = append(batch, d)
			size += n
		}
		return len(batch) >= b.limits.MaxMessages || size >= b.limits.MaxBytes
	}
	if len(b.carry) > 0 {
		c := b.carry
		b.carry = nil
		if add(c) {
			return batch, nil
		}
	}
	if len(batch) == 0 {
		ds, err := b.sub.Fetch(ctx, 1, b.idleWait)
		if err != nil {
			if errors.Is(err, broker.ErrLost) {
				return nil, err
			}
			add(ds)
			return batch, err
		}
		if add(ds) || len(batch) == 0 {
			return batch, nil
		}
	}
	deadline := time.Now().Add(b.limits.MaxWait)
	for {
		wait := time.Until(deadline)
		if wait <= 0 {
			return batch, nil
		}
		ds, err := b.sub.Fetch(ctx, b.limits.MaxMessages-len(batch), wait)
		if err != nil {
			if errors.Is(err, broker.ErrLost) {
				b.carry = nil
				return nil, err
			}
			add(ds)
			return batch, err
		}
		if len(ds) == 0 || add(ds) {
			return batch, nil
		}
	}
}
