package rabbitmq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/event-grpc/event-grpc/internal/backoff"
	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// errLost: the consumer's channel or connection went away; its unacked
// messages return to the queue and the consumer starts again.
var errLost = errors.New("consumer channel lost")

// Consume runs q.Consumers consumers of q, each on its own channel with
// prefetch q.Prefetch, handing batches to h. It returns nil when ctx ends
// (after the batches in hand are acked), broker.ErrClosed (wrapped) when the
// broker is closed, or an error that retrying cannot cure (the queue does
// not exist, access refused). Connection loss is waited out. See
// broker.Consumer.
func (b *Broker) Consume(ctx context.Context, q topology.Queue, h broker.BatchHandler) error {
	if h == nil {
		return errors.New("rabbitmq: consume: nil handler")
	}
	if q.Name == "" {
		return errors.New("rabbitmq: consume: queue has no name")
	}
	q = queueDefaults(q)
	if q.Prefetch > 65535 {
		return fmt.Errorf("rabbitmq: consume %q: prefetch %d exceeds 65535", q.Name, q.Prefetch)
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return fmt.Errorf("rabbitmq: consume %q: %w", q.Name, broker.ErrClosed)
	}
	b.consumers.Add(q.Consumers)
	b.mu.Unlock()

	// stop ends the consumers softly: on ctx or Close they finish the batch
	// in hand. Handlers run on hctx, which only a Close that gives up
	// waiting cancels, so the batch in hand can still be written and acked.
	stop, cancel := context.WithCancel(ctx)
	defer cancel()
	unhook := context.AfterFunc(b.closing, cancel)
	defer unhook()
	hctx, hcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer hcancel()
	unhookHard := context.AfterFunc(b.hard, hcancel)
	defer unhookHard()

	errs := make([]error, q.Consumers)
	var wg sync.WaitGroup
	for i := range q.Consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer b.consumers.Done()
			errs[i] = b.runConsumer(stop, hctx, q, h, i)
			if errs[i] != nil {
				cancel() // one consumer's fatal error stops the others
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if ctx.Err() == nil && b.isClosing() {
		return fmt.Errorf("rabbitmq: consume %q: %w", q.Name, broker.ErrClosed)
	}
	return nil
}

// runConsumer consumes on one channel after another until stop ends or a
// fatal error.
func (b *Broker) runConsumer(stop, hctx context.Context, q topology.Queue, h broker.BatchHandler, n int) error {
	for attempt := 0; ; attempt++ {
		s, err := b.waitSession(stop)
		if err != nil {
			return nil
		}
		started, err := b.consumeOn(stop, hctx, s, q, h, n)
		if err == nil || stop.Err() != nil {
			return nil
		}
		if fault.IsPermanent(err) {
			return err
		}
		if started {
			attempt = 0
		}
		if attempt == 0 && !errors.Is(err, errLost) {
			b.log.Warn("consumer failed; starting again", "queue", q.Name, "consumer", n, "err", err)
		}
		if reconnectBackoff.Sleep(stop, attempt) != nil {
			return nil
		}
	}
}

// consumeOn runs one consumer on a new channel of s until stop ends (nil)
// or the channel is lost. started reports that deliveries began.
func (b *Broker) consumeOn(stop, hctx context.Context, s *session, q topology.Queue, h broker.BatchHandler, n int) (started bool, err error) {
	ch, err := s.conn.Channel()
	if err != nil {
		return false, fmt.Errorf("%w: %v", errLost, err)
	}
	defer func() {
		if !ch.IsClosed() {
			_ = ch.Close() // requeues what was not acked
		}
	}()
	if err := ch.Qos(q.Prefetch, 0, false); err != nil {
		return false, fmt.Errorf("%w: qos: %v", errLost, err)
	}
	tag := consumerTag(q.Name, n)
	deliveries, err := ch.Consume(q.Name, tag, false, false, false, false, nil)
	if err != nil {
		var ae *amqp.Error
		if errors.As(err, &ae) && (ae.Code == amqp.NotFound || ae.Code == amqp.AccessRefused) {
			return false, fault.Permanent(fmt.Errorf("rabbitmq: consume %q: %s", q.Name, ae.Reason))
		}
		return false, fmt.Errorf("%w: consume: %v", errLost, err)
	}
	c := &consumer{b: b, ch: ch, q: q, h: h, deliveries: deliveries}
	err = c.loop(stop, hctx)
	if err == nil && !ch.IsClosed() {
		// Stop deliveries; the unacked prefetched ones return to the queue
		// when the channel closes.
		_ = ch.Cancel(tag, false)
	}
	return true, err
}

func consumerTag(queue string, n int) string {
	var r [6]byte
	_, _ = rand.Read(r[:])
	tag := fmt.Sprintf("event-grpc.%d.%s.%s", n, hex.EncodeToString(r[:]), queue)
	if len(tag) > 255 {
		tag = tag[:255]
	}
	return tag
}

// consumer gathers one channel's deliveries into batches.
type consumer struct {
	b          *Broker
	ch         *amqp.Channel
	q          topology.Queue
	h          broker.BatchHandler
	deliveries <-chan amqp.Delivery
	carry      *amqp.Delivery // first message of the next batch
}

// loop hands batches to the handler until stop ends (nil) or the channel
// is lost.
func (c *consumer) loop(stop, hctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		var batch []amqp.Delivery
		size := 0
		if c.carry != nil {
			batch = append(batch, *c.carry)
			size = len(c.carry.Body)
			c.carry = nil
		} else {
			select {
			case <-stop.Done():
				return nil
			case d, ok := <-c.deliveries:
				if !ok {
					return errLost
				}
				batch = append(batch, d)
				size = len(d.Body)
			}
		}
		timer.Reset(c.q.Batch.MaxWait)
		lost := false
	gather:
		for len(batch) < c.q.Batch.MaxMessages && size < c.q.Batch.MaxBytes {
			select {
			case d, ok := <-c.deliveries:
				if !ok {
					lost = true
					break gather
				}
				if size+len(d.Body) > c.q.Batch.MaxBytes {
					c.carry = &d
					break gather
				}
				batch = append(batch, d)
				size += len(d.Body)
			case <-timer.C:
				break gather
			case <-stop.Done():
				break gather // finish the batch in hand
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		c.b.m.consumed.WithLabelValues(c.q.Name).Add(float64(len(batch)))
		if lost {
			// Cannot ack any more: the messages return to the queue.
			return errLost
		}
		if err := c.handle(stop, hctx, batch); err != nil {
			return err
		}
		if stop.Err() != nil {
			return nil
		}
	}
}

// handle runs the handler on batch until it succeeds, then acks the batch
// with one multiple ack (after republishing failed messages). A transient
// failure is handed again after a backoff, without acking or spending
// retries; when stop ends meanwhile the batch is left unacked (nil).
func (c *consumer) handle(stop, hctx context.Context, raw []amqp.Delivery) error {
	batch := make([]broker.Delivery, len(raw))
	for i := range raw {
		batch[i] = toDelivery(c.q.Name, &raw[i])
	}
	for attempt := 0; ; attempt++ {
		err := c.h(hctx, batch)
		if err == nil {
			return c.ack(raw)
		}
		var fm *broker.FailedMessages
		if errors.As(err, &fm) {
			if err := c.republish(stop, hctx, raw, batch, fm); err != nil {
				return err
			}
			return c.ack(raw)
		}
		c.b.m.handlerErrors.WithLabelValues(c.q.Name).Inc()
		if attempt == 0 {
			c.b.log.Warn("batch failed; handing it again after a backoff",
				"queue", c.q.Name, "messages", len(raw), "err", err)
		}
		if !c.sleep(stop, attempt, fault.RetryAfter(err)) {
			return nil
		}
		if c.ch.IsClosed() {
			return errLost
		}
	}
}

// sleep waits the backoff (at least hint), false when stop ended first.
func (c *consumer) sleep(stop context.Context, attempt int, hint time.Duration) bool {
	t := time.NewTimer(max(backoff.Default.Delay(attempt), hint))
	defer t.Stop()
	select {
	case <-stop.Done():
		return false
	case <-t.C:
		return true
	}
}

func (c *consumer) ack(raw []amqp.Delivery) error {
	if err := c.ch.Ack(raw[len(raw)-1].DeliveryTag, true); err != nil {
		return fmt.Errorf("%w: ack: %v", errLost, err)
	}
	c.b.m.acked.WithLabelValues(c.q.Name).Add(float64(len(raw)))
	return nil
}

// republish sends each failed message back to its own queue (through the
// default exchange) with x-retry-count raised, or to the error exchange once
// its retries are spent, and waits for the confirms. Republishing that fails
// is tried again with backoff; when stop ends first the batch stays unacked
// and the error is errStopped.
func (c *consumer) republish(stop, hctx context.Context, raw []amqp.Delivery, batch []broker.Delivery, fm *broker.FailedMessages) error {
	var outs []outgoing
	var dead []bool
	for i, cause := range fm.Failed {
		if i < 0 || i >= len(batch) {
			continue // names no message of this batch
		}
		if cause == nil {
			cause = errors.New("failed permanently (no reason given)")
		}
		d := batch[i]
		out := outgoing{key: c.q.Name, msg: amqp.Publishing{
			ContentType:  raw[i].ContentType,
			DeliveryMode: amqp.Persistent,
			MessageId:    raw[i].MessageId,
			Timestamp:    raw[i].Timestamp,
			Body:         raw[i].Body,
		}}
		isDead := broker.ShouldDeadLetter(c.q, d)
		if isDead {
			out.exchange = c.b.errorExch
			out.msg.Headers = headersToTable(broker.DeadLetterHeaders(d, cause))
		} else {
			out.msg.Headers = headersToTable(broker.RetryHeaders(d, cause))
		}
		outs = append(outs, out)
		dead = append(dead, isDead)
	}
	for attempt := 0; len(outs) > 0; attempt++ {
		err := c.b.publish(hctx, outs)
		var pe *broker.PublishError
		var left []outgoing
		var leftDead []bool
		switch {
		case err == nil:
		case errors.As(err, &pe):
			for i := range outs {
				if pe.Failed[i] != nil {
					left = append(left, outs[i])
					leftDead = append(leftDead, dead[i])
				}
			}
		default:
			left, leftDead = outs, dead
		}
		for i := range outs {
			if sent := err == nil || pe != nil && pe.Failed[i] == nil; !sent {
				continue
			}
			if dead[i] {
				c.b.m.deadLettered.WithLabelValues(c.q.Name).Inc()
			} else {
				c.b.m.retried.WithLabelValues(c.q.Name).Inc()
			}
		}
		outs, dead = left, leftDead
		if len(outs) == 0 {
			return nil
		}
		if attempt == 0 {
			c.b.log.Warn("republishing failed messages failed; trying again",
				"queue", c.q.Name, "messages", len(outs), "err", err)
		}
		if !c.sleep(stop, attempt, 0) || hctx.Err() != nil {
			return errStopped
		}
		if c.ch.IsClosed() {
			return errLost
		}
	}
	return nil
}

// errStopped: the consumer stopped with a batch it could not finish; the
// batch returns to the queue.
var errStopped = errors.New("consumer stopped before the batch was finished")
