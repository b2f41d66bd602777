package rabbitmq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// Subscribe opens a consumer of q on a channel of its own with prefetch
// q.Prefetch. It waits for the connection while the broker reconnects. A
// queue of the topology that is gone (deleted under the running service) is
// declared again, with its bindings and error queue, and consumed. See
// broker.Transport.
func (b *Broker) Subscribe(ctx context.Context, q topology.Queue) (broker.Subscription, error) {
	if q.Name == "" {
		return nil, fault.Permanent(errors.New("rabbitmq: subscribe: queue has no name"))
	}
	q = q.WithBatchDefaults()
	if q.Prefetch > 65535 {
		return nil, fault.Permanent(fmt.Errorf("rabbitmq: subscribe %q: prefetch %d exceeds 65535", q.Name, q.Prefetch))
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, fmt.Errorf("rabbitmq: subscribe %q: %w", q.Name, broker.ErrClosed)
	}
	b.consumers.Add(1) // Close waits for the subscription to close
	b.mu.Unlock()
	s, err := b.subscribe(ctx, q)
	if err != nil {
		b.consumers.Done()
		return nil, err
	}
	return s, nil
}

func (b *Broker) subscribe(ctx context.Context, q topology.Queue) (*subscription, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(b.closing, cancel)()
	sess, err := b.waitSession(wctx)
	if err != nil {
		if b.isClosing() {
			return nil, fmt.Errorf("rabbitmq: subscribe %q: %w", q.Name, broker.ErrClosed)
		}
		return nil, err
	}
	for redeclared := false; ; redeclared = true {
		s, err := b.open(sess, q)
		var ae *amqp.Error
		if err == nil || !errors.As(err, &ae) {
			return s, err
		}
		switch {
		case ae.Code == amqp.AccessRefused:
			return nil, fault.Permanent(fmt.Errorf("rabbitmq: subscribe %q: %s", q.Name, ae.Reason))
		case ae.Code != amqp.NotFound:
			return nil, fmt.Errorf("rabbitmq: subscribe %q: %w: %s", q.Name, broker.ErrUnavailable, ae.Reason)
		case homeNodeDown(ae):
			return nil, fmt.Errorf("rabbitmq: subscribe %q: %w: %s", q.Name, broker.ErrUnavailable, homeNodeAdvice(q.Name, ae.Reason))
		}
		tq, known := b.topologyQueue(q.Name)
		if !known || redeclared {
			return nil, fault.Permanent(fmt.Errorf("rabbitmq: subscribe %q: %s", q.Name, ae.Reason))
		}
		b.log.Warn("queue is gone; declaring it again", "queue", q.Name)
		problems, derr := declare(sess.conn, &topology.Topology{ErrorExchange: b.errorExch, Queues: []topology.Queue{tq}, QueueType: b.topologyQueueType()}, b.cfg.QueueType)
		if derr == nil && len(problems) > 0 {
			derr = &DeclareError{Problems: problems}
		}
		if derr != nil {
			return nil, fmt.Errorf("rabbitmq: declaring queue %q again: %w: %v", q.Name, broker.ErrUnavailable, derr)
		}
		b.m.redeclared.Inc()
	}
}

// topologyQueueType is the topology's default queue type, if any.
func (b *Broker) topologyQueueType() string {
	if b.cfg.Topology == nil {
		return ""
	}
	return b.cfg.Topology.QueueType
}

// topologyQueue returns the topology's queue of that name.
func (b *Broker) topologyQueue(name string) (topology.Queue, bool) {
	if b.cfg.Topology == nil {
		return topology.Queue{}, false
	}
	return b.cfg.Topology.Queue(name)
}

// open starts a consumer of q on a new channel of sess. A refusal by the
// server comes back as the *amqp.Error.
func (b *Broker) open(sess *session, q topology.Queue) (*subscription, error) {
	ch, err := sess.conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("rabbitmq: subscribe %q: %w: %v", q.Name, broker.ErrUnavailable, err)
	}
	if err := ch.Qos(q.Prefetch, 0, false); err != nil {
		closeChannel(ch)
		return nil, fmt.Errorf("rabbitmq: subscribe %q: %w: qos: %v", q.Name, broker.ErrUnavailable, err)
	}
	tag := consumerTag(q.Name)
	deliveries, err := ch.Consume(q.Name, tag, false, false, false, false, nil)
	if err != nil {
		closeChannel(ch)
		var ae *amqp.Error
		if errors.As(err, &ae) {
			return nil, ae
		}
		return nil, fmt.Errorf("rabbitmq: subscribe %q: %w: %v", q.Name, broker.ErrUnavailable, err)
	}
	return &subscription{b: b, q: q, ch: ch, deliveries: deliveries}, nil
}

func consumerTag(queue string) string {
	var r [6]byte
	_, _ = rand.Read(r[:])
	tag := fmt.Sprintf("event-grpc.%s.%s", hex.EncodeToString(r[:]), queue)
	if len(tag) > 255 {
		tag = tag[:255]
	}
	return tag
}

// subscription is one consumer channel. Delivery tags are the channel's.
type subscription struct {
	b          *Broker
	q          topology.Queue
	ch         *amqp.Channel
	deliveries <-chan amqp.Delivery
	timer      *time.Timer

	mu sync.Mutex
	// unsettled are the tags fetched and not yet acked or nacked, in
	// ascending order; an ack of a prefix of them can be one multiple ack.
	unsettled []uint64
	naks      map[*time.Timer]struct{} // delayed naks not yet sent
	closed    bool
	// lost is set once the channel is gone; the deliveries in hand are void.
	lost atomic.Bool
	// active is when a delivery last arrived or the queue was last found
	// to exist (see idleCheck); only Fetch's goroutine uses it.
	active time.Time
}

// idleCheck: a subscription that has received nothing for this long asks
// whether its queue still exists. A quorum queue deleted on another node
// does not always cancel its consumers (seen on 3.10), which would leave
// the queue unconsumed, and unrecreated, until a restart.
const idleCheck = 5 * time.Second

// queueGone reports whether the server says queue does not exist.
func (b *Broker) queueGone(queue string) bool {
	ch, err := b.adminChannel()
	if err != nil {
		return false
	}
	defer closeChannel(ch)
	_, err = ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	var ae *amqp.Error
	return errors.As(err, &ae) && ae.Code == amqp.NotFound && !homeNodeDown(ae)
}

// Fetch takes up to limit deliveries from the channel's prefetch buffer,
// waiting up to wait for the first. See broker.Subscription.
func (s *subscription) Fetch(ctx context.Context, limit int, wait time.Duration) ([]broker.Delivery, error) {
	if s.lost.Load() || s.ch.IsClosed() {
		s.lost.Store(true)
		return nil, fmt.Errorf("rabbitmq: fetch %q: %w", s.q.Name, broker.ErrLost)
	}
	if s.timer == nil {
		s.timer = time.NewTimer(wait)
	} else {
		s.timer.Reset(wait)
	}
	defer s.timer.Stop()
	var first amqp.Delivery
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.b.closing.Done():
		return nil, fmt.Errorf("rabbitmq: fetch %q: %w", s.q.Name, broker.ErrClosed)
	case <-s.timer.C:
		if s.active.IsZero() {
			s.active = time.Now()
		} else if time.Since(s.active) >= idleCheck {
			s.active = time.Now()
			if s.b.queueGone(s.q.Name) {
				closeChannel(s.ch)
				return nil, s.lose()
			}
		}
		return nil, nil
	case d, ok := <-s.deliveries:
		if !ok {
			return nil, s.lose()
		}
		first = d
		s.active = time.Now()
	}
	out := make([]broker.Delivery, 0, min(limit, 64))
	tags := make([]uint64, 0, cap(out))
	out = append(out, toDelivery(s.q.Name, &first))
	tags = append(tags, first.DeliveryTag)
more:
	for len(out) < limit {
		select {
		case d, ok := <-s.deliveries:
			if !ok {
				return nil, s.lose()
			}
			out = append(out, toDelivery(s.q.Name, &d))
			tags = append(tags, d.DeliveryTag)
		default:
			break more
		}
	}
	s.mu.Lock()
	s.unsettled = append(s.unsettled, tags...)
	s.mu.Unlock()
	s.b.m.consumed.WithLabelValues(s.q.Name).Add(float64(len(out)))
	return out, nil
}

// lose marks the subscription lost: the deliveries channel closed because
// the channel or connection closed or the server cancelled the consumer
// (its queue was deleted).
func (s *subscription) lose() error {
	s.lost.Store(true)
	return fmt.Errorf("rabbitmq: consumer of %q ended: %w", s.q.Name, broker.ErrLost)
}

// Settle acks, nacks (with requeue, at once or after a delay) or checks
// ds. The run of ds that are the oldest unsettled deliveries goes as one
// multiple ack or nack; the others one by one. RabbitMQ has no delayed nack: a delayed
// one is sent by a timer, and the messages stay reserved until then. See
// broker.Subscription.
func (s *subscription) Settle(_ context.Context, ds []broker.Delivery, f broker.Fate) error {
	if len(ds) == 0 {
		return nil
	}
	if f.Verb == broker.VerbInProgress {
		switch {
		case s.lost.Load() || s.ch.IsClosed():
			return fmt.Errorf("rabbitmq: %q: %w", s.q.Name, broker.ErrLost)
		case s.b.isClosing():
			return fmt.Errorf("rabbitmq: %q: %w", s.q.Name, broker.ErrClosed)
		}
		return nil // the broker has no ack timeout to reset
	}
	tags := make([]uint64, len(ds))
	for i, d := range ds {
		tags[i] = d.Tag
	}
	slices.Sort(tags)
	if f.Verb == broker.VerbNak && f.Delay > 0 {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed {
			return nil // closing the channel gave them back
		}
		if s.naks == nil {
			s.naks = map[*time.Timer]struct{}{}
		}
		var t *time.Timer
		t = time.AfterFunc(f.Delay, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if _, ok := s.naks[t]; !ok || s.closed {
				return
			}
			delete(s.naks, t)
			_ = s.settleLocked(tags, broker.VerbNak)
		})
		s.naks[t] = struct{}{}
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.settleLocked(tags, f.Verb)
}

// settleLocked acks or nacks the sorted tags; s.mu is held.
func (s *subscription) settleLocked(tags []uint64, verb broker.Verb) error {
	send := func(tag uint64, multiple bool) error {
		if verb == broker.VerbAck {
			return s.ch.Ack(tag, multiple)
		}
		return s.ch.Nack(tag, multiple, true)
	}
	// The leading run of tags that are also the oldest unsettled ones goes
	// as one multiple ack or nack (it covers nothing else: every older tag
	// is settled); the rest one by one.
	k := 0
	for k < len(tags) && k < len(s.unsettled) && s.unsettled[k] == tags[k] {
		k++
	}
	var err error
	if k > 0 {
		err = send(tags[k-1], true)
		s.unsettled = slices.Delete(s.unsettled, 0, k)
	}
	if rest := tags[k:]; len(rest) > 0 {
		for _, tag := range rest {
			if e := send(tag, false); e != nil && err == nil {
				err = e
			}
		}
		drop := make(map[uint64]bool, len(rest))
		for _, tag := range rest {
			drop[tag] = true
		}
		s.unsettled = slices.DeleteFunc(s.unsettled, func(t uint64) bool { return drop[t] })
	}
	if err != nil {
		s.lost.Store(true)
		return fmt.Errorf("rabbitmq: settle %q: %w: %v", s.q.Name, broker.ErrLost, err)
	}
	if verb == broker.VerbAck {
		s.b.m.acked.WithLabelValues(s.q.Name).Add(float64(len(tags)))
	}
	return nil
}

// Republish sends each copy as a persistent, mandatory message: a retry
// through the default exchange straight into its queue (so no other queue
// bound to the original exchange gets it again), a dead letter to the error
// exchange with the queue's name as key (its error queue's binding). It
// waits for the publisher confirms. See broker.Subscription.
func (s *subscription) Republish(ctx context.Context, rs []broker.Republish) error {
	outs := make([]outgoing, len(rs))
	for k, r := range rs {
		d := r.Delivery
		out := outgoing{key: s.q.Name, msg: amqp.Publishing{
			Headers:      headersToTable(r.Headers),
			ContentType:  d.ContentType,
			DeliveryMode: amqp.Persistent,
			MessageId:    d.ID,
			Timestamp:    d.Published,
			Body:         d.Body,
		}}
		if r.DeadLetter {
			out.exchange = s.b.errorExch
		}
		outs[k] = out
	}
	return s.b.publish(ctx, outs)
}

// Close cancels the consumer by closing its channel: the server requeues
// whatever was not acked. Safe to call twice.
func (s *subscription) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for t := range s.naks {
		t.Stop()
	}
	s.naks = nil
	s.mu.Unlock()
	closeChannel(s.ch)
	s.b.consumers.Done()
	return nil
}
