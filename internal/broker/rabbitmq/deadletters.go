package rabbitmq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/event-grpc/event-grpc/internal/broker"
)

// maxPeek bounds the sample of one Peek, since every sampled message is
// held unacked until the sample is complete.
const maxPeek = 10000

// replayChunk is how many dead letters Replay takes before publishing them.
const replayChunk = 100

// Peek returns up to limit (at most 10000) messages of queue without
// removing them, and the count of its ready messages. The sampled messages
// are taken unacked and put back (nacked with requeue), so they keep their
// place but are marked redelivered.
func (b *Broker) Peek(ctx context.Context, queue string, limit int) (int, []broker.Delivery, error) {
	ch, err := b.adminChannel()
	if err != nil {
		return 0, nil, fmt.Errorf("rabbitmq: peek %q: %w", queue, err)
	}
	defer closeChannel(ch)
	info, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("rabbitmq: peek: %w", queueError(queue, err))
	}
	limit = min(limit, maxPeek)
	var sample []broker.Delivery
	var last uint64
	for len(sample) < limit {
		if err = ctx.Err(); err != nil {
			break
		}
		d, ok, gerr := ch.Get(queue, false)
		if gerr != nil {
			err = fmt.Errorf("%w: get: %v", broker.ErrUnavailable, gerr)
			break
		}
		if !ok {
			break
		}
		sample = append(sample, toDelivery(queue, &d))
		last = d.DeliveryTag
	}
	if last > 0 {
		if nerr := ch.Nack(last, true, true); nerr != nil && err == nil {
			// Closing the channel requeues them as well.
			err = fmt.Errorf("%w: requeue: %v", broker.ErrUnavailable, nerr)
		}
		if err == nil {
			// A quorum queue takes them back asynchronously (through its
			// log): wait until it counts them again, so that what a caller
			// does next (a Replay bounded by the count) sees the queue as
			// Peek found it.
			awaitReady(ch, queue, info.Messages, 2*time.Second)
		}
	}
	if err != nil {
		return info.Messages, nil, fmt.Errorf("rabbitmq: peek %q: %w", queue, err)
	}
	return info.Messages, sample, nil
}

// settleBarrier makes sure a quorum queue has applied the channel's acks
// before the channel closes: it settles them through its log
// asynchronously, and a channel closed first has them returned to the
// queue (measured on 3.10: a third of a replay's acks). A basic.get goes
// through the same log after them, so its answer means they are applied;
// a message it takes is put back.
func settleBarrier(ch *amqp.Channel, queue string) {
	d, ok, err := ch.Get(queue, false)
	if err == nil && ok {
		_ = ch.Nack(d.DeliveryTag, false, true)
	}
}

// awaitReady waits, at most d, until queue counts at least n ready
// messages.
func awaitReady(ch *amqp.Channel, queue string, n int, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		info, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
		if err != nil || info.Messages >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// headerReplayID marks the copies one Replay call sent, so that a copy
// that fails again and is back in the error queue during the same call is
// recognised and left there.
const headerReplayID = "x-replay-id"

// Replay moves up to limit dead letters of errorQueue back into the queue
// they failed in (x-original-queue, through the default exchange; or, for
// dead letters without it, to the exchange and routing key they were first
// published to), with x-retry-count reset to 0 and the error reason
// removed. Each is acked in the error queue only after its republish was
// confirmed; one that fails goes back to the error queue and stops the
// replay with an error. It returns how many moved.
//
// A call is bounded (see broker.DeadLetters): at most
// broker.ReplayLimit(limit) messages, and no more than the error queue held
// when the call began; a message of this call's own (its x-replay-id) seen
// again ends the call, so a message that fails again at once is not
// replayed twice.
func (b *Broker) Replay(ctx context.Context, errorQueue string, limit int) (int, error) {
	limit = broker.ReplayLimit(limit)
	ch, err := b.adminChannel()
	if err != nil {
		return 0, fmt.Errorf("rabbitmq: replay %q: %w", errorQueue, err)
	}
	defer closeChannel(ch)
	info, err := ch.QueueDeclarePassive(errorQueue, true, false, false, false, nil)
	if err != nil {
		return 0, fmt.Errorf("rabbitmq: replay: %w", queueError(errorQueue, err))
	}
	limit = min(limit, info.Messages)
	defer settleBarrier(ch, errorQueue)
	var rid [8]byte
	_, _ = rand.Read(rid[:])
	id := hex.EncodeToString(rid[:])
	moved := 0
	for moved < limit {
		if err := ctx.Err(); err != nil {
			return moved, fmt.Errorf("rabbitmq: replay %q: %w", errorQueue, err)
		}
		var got []amqp.Delivery
		again := false
		for len(got) < min(replayChunk, limit-moved) {
			d, ok, err := ch.Get(errorQueue, false)
			if err != nil {
				return moved, fmt.Errorf("rabbitmq: replay %q: %w: get: %v", errorQueue, broker.ErrUnavailable, err)
			}
			if !ok {
				break
			}
			if headerString(d.Headers[headerReplayID]) == id {
				// Replayed by this call and failed again: leave it.
				if err := ch.Nack(d.DeliveryTag, false, true); err != nil {
					return moved, fmt.Errorf("rabbitmq: replay %q: %w: requeue: %v", errorQueue, broker.ErrUnavailable, err)
				}
				again = true
				break
			}
			got = append(got, d)
		}
		if len(got) == 0 {
			return moved, nil
		}
		n, err := b.replayChunk(ctx, ch, got, id)
		moved += n
		b.m.replayed.Add(float64(n))
		if err != nil {
			return moved, fmt.Errorf("rabbitmq: replay %q: %w", errorQueue, err)
		}
		if again {
			return moved, nil
		}
	}
	return moved, nil
}

// replayChunk republishes got and acks each confirmed one; the rest are
// put back. It returns how many moved.
func (b *Broker) replayChunk(ctx context.Context, ch *amqp.Channel, got []amqp.Delivery, id string) (int, error) {
	outs := make([]outgoing, 0, len(got))
	idx := make([]int, 0, len(got)) // outs[j] is got[idx[j]]
	var bad []error
	for i := range got {
		d := &got[i]
		ex, okE := d.Headers[broker.HeaderOriginalExchange]
		key, okK := d.Headers[broker.HeaderOriginalRoutingKey]
		if !okE || !okK {
			bad = append(bad, fmt.Errorf("dead letter %d has no %s / %s header", i, broker.HeaderOriginalExchange, broker.HeaderOriginalRoutingKey))
			continue
		}
		h := make(amqp.Table, len(d.Headers))
		for k, v := range d.Headers {
			h[k] = v
		}
		h[broker.HeaderRetryCount] = int32(0)
		h[headerReplayID] = id
		delete(h, broker.HeaderErrorReason)
		// Back into the queue it failed in only (default exchange, key =
		// queue name), so other queues the message first reached do not
		// get a second copy; the original exchange and key stay in the
		// headers.
		exchange, routingKey := headerString(ex), headerString(key)
		if q, ok := d.Headers[broker.HeaderOriginalQueue]; ok && headerString(q) != "" {
			exchange, routingKey = "", headerString(q)
		}
		outs = append(outs, outgoing{exchange: exchange, key: routingKey, msg: amqp.Publishing{
			Headers:      h,
			ContentType:  d.ContentType,
			DeliveryMode: amqp.Persistent,
			MessageId:    d.MessageId,
			Timestamp:    d.Timestamp,
			Body:         d.Body,
		}})
		idx = append(idx, i)
	}
	var perr error
	if len(outs) > 0 {
		perr = b.publish(ctx, outs)
	}
	var pe *broker.PublishError
	errors.As(perr, &pe)
	ok := make([]bool, len(got))
	for j, i := range idx {
		ok[i] = perr == nil || pe != nil && pe.Failed[j] == nil
	}
	moved := 0
	var ackErr error
	for i := range got {
		var err error
		if ok[i] {
			if err = ch.Ack(got[i].DeliveryTag, false); err == nil {
				moved++
			}
		} else {
			err = ch.Nack(got[i].DeliveryTag, false, true)
		}
		if err != nil && ackErr == nil {
			ackErr = fmt.Errorf("%w: ack: %v", broker.ErrUnavailable, err)
		}
	}
	return moved, errors.Join(append(bad, perr, ackErr)...)
}

// adminChannel opens a channel for a one-off operation.
func (b *Broker) adminChannel() (*amqp.Channel, error) {
	if b.isClosing() {
		return nil, broker.ErrClosed
	}
	s := b.session()
	if s == nil {
		return nil, fmt.Errorf("%w: not connected", broker.ErrUnavailable)
	}
	ch, err := s.conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", broker.ErrUnavailable, err)
	}
	return ch, nil
}

func closeChannel(ch *amqp.Channel) {
	if !ch.IsClosed() {
		_ = ch.Close()
	}
}

// queueError describes a failed passive declare.
func queueError(queue string, err error) error {
	var ae *amqp.Error
	if errors.As(err, &ae) && ae.Code == amqp.NotFound {
		return fmt.Errorf("queue %q does not exist", queue)
	}
	return fmt.Errorf("%w: queue %q: %v", broker.ErrUnavailable, queue, err)
}
