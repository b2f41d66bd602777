package rabbitmq

import (
	"context"
	"fmt"
	"time"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/topology"
)

var _ broker.QueueStats = (*Broker)(nil)

// Stats reports each queue's ready messages and consumers (a passive
// declare). The age of the head message is best effort: for error queues,
// which nothing consumes, the head is taken unacked, its timestamp read and
// it is put back (so it is marked redelivered); for the other queues,
// where that would disturb the consumers, the age is -1 (unknown) unless
// the queue is empty. Unacked and Bytes are -1: AMQP does not report them
// (the management API would; it is not used). MaxBytes is the bound the
// queue is declared with (x-max-length-bytes).
func (b *Broker) Stats(ctx context.Context) ([]broker.QueueStat, error) {
	top := b.cfg.Topology
	if top == nil {
		return nil, nil
	}
	ch, err := b.adminChannel()
	if err != nil {
		return nil, fmt.Errorf("rabbitmq: stats: %w", err)
	}
	defer func() { closeChannel(ch) }()
	now := time.Now()
	var out []broker.QueueStat
	for _, q := range top.Queues {
		for _, name := range []string{q.Name, q.ErrorQueue()} {
			bound := q.QueueMaxBytes()
			if name != q.Name {
				bound = topology.DefaultDeadLetterMaxBytes
			}
			if err := ctx.Err(); err != nil {
				return out, err
			}
			isErr := name != q.Name
			info, err := ch.QueueDeclarePassive(name, true, false, false, false, nil)
			if err != nil {
				// The failed declare closed the channel; the next queue
				// needs a new one.
				st := broker.QueueStat{Queue: name, Messages: -1, Unacked: -1, OldestAge: -1, ErrorQueue: isErr, Bytes: -1, MaxBytes: bound}
				if isErr {
					st.Of = q.Name
				}
				out = append(out, st)
				if ch, err = b.adminChannel(); err != nil {
					return out, fmt.Errorf("rabbitmq: stats: %w", err)
				}
				continue
			}
			st := broker.QueueStat{Queue: name, Messages: int64(info.Messages), Unacked: -1, Consumers: info.Consumers, Bytes: -1, MaxBytes: bound}
			if isErr {
				st.ErrorQueue, st.Of = true, q.Name
			}
			switch {
			case info.Messages == 0:
			case isErr:
				st.OldestAge = -1
				d, ok, gerr := ch.Get(name, false)
				if gerr == nil && ok {
					if !d.Timestamp.IsZero() {
						st.OldestAge = max(0, now.Sub(d.Timestamp))
					}
					if nerr := d.Nack(false, true); nerr != nil {
						return out, fmt.Errorf("rabbitmq: stats %s: %w: requeue: %v", name, broker.ErrUnavailable, nerr)
					}
				}
			default:
				st.OldestAge = -1
			}
			out = append(out, st)
		}
	}
	return out, nil
}
