package jetstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/event-grpc/event-grpc/internal/broker"
)

var _ broker.QueueStats = (*Broker)(nil)

// Stats reports each queue's and error queue's message count (the stream's
// per-subject count, as Peek), its durable consumer's unacked count and
// waiting pull requests, and the age of its head message (read by
// subject from the stream; nothing is consumed).
func (b *Broker) Stats(ctx context.Context) ([]broker.QueueStat, error) {
	if b.isClosing() {
		return nil, fmt.Errorf("jetstream: stats: %w", broker.ErrClosed)
	}
	now := time.Now()
	var out []broker.QueueStat
	add := func(queue string) error {
		n := b.names.byQueue[queue]
		stream, err := b.streamOf(queue)
		if err != nil {
			return fmt.Errorf("jetstream: stats: %w", err)
		}
		// The queue's stream holds its subject alone, so the stream's
		// message count is the queue's (as Peek counts it).
		info, err := stream.Info(ctx)
		if err != nil {
			return fmt.Errorf("jetstream: stats %s: %w", queue, classifyAPI(err))
		}
		st := broker.QueueStat{Queue: queue, Messages: int64(info.State.Msgs), Unacked: -1, ErrorQueue: n.owner != "", Of: n.owner,
			Bytes: int64(info.State.Bytes), MaxBytes: max(0, info.Config.MaxBytes)}
		// Consumer looks the consumer up with one info request; its
		// cached info is that answer.
		if c, err := stream.Consumer(ctx, n.durable); err == nil {
			ci := c.CachedInfo()
			st.Unacked = int64(ci.NumAckPending)
			st.Consumers = ci.NumWaiting
		}
		if st.Messages > 0 {
			raw, err := stream.GetMsg(ctx, max(info.State.FirstSeq, 1), jetstream.WithGetMsgSubject(n.subject))
			switch {
			case err == nil:
				st.OldestAge = max(0, now.Sub(raw.Time))
			case errors.Is(err, jetstream.ErrMsgNotFound): // acked since the count was read
			default:
				return fmt.Errorf("jetstream: stats %s: %w", queue, classifyAPI(err))
			}
		}
		out = append(out, st)
		return nil
	}
	for _, q := range b.top.Queues {
		if err := add(q.Name); err != nil {
			return out, err
		}
		if err := add(q.ErrorQueue()); err != nil {
			return out, err
		}
	}
	return out, nil
}
