package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/event-grpc/event-grpc/internal/backoff"
	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
)

// maxBody is RabbitMQ's default max_message_size; a larger message would
// close the publisher channel, failing every message in flight on it.
const maxBody = 128 << 20

// errNacked: the broker refused a message (basic.nack), an internal error
// on its side; publishing it again may succeed.
var errNacked = fmt.Errorf("%w: the broker nacked the message", broker.ErrUnavailable)

// outgoing is one message to send.
type outgoing struct {
	exchange, key string
	msg           amqp.Publishing
}

// inflight is a sent message awaiting its confirm.
type inflight struct {
	out    *outgoing
	sent   time.Time
	ret    *amqp.Return // set (under pubChannel.mu) when the broker returned it
	result chan error   // receives the outcome once
}

// pubSlot holds the current channel of one place in the publisher pool; a
// channel closed while the connection lives is replaced.
type pubSlot struct {
	cur atomic.Pointer[pubChannel]
}

// pubChannel is a channel in confirm mode. Messages are tagged with their
// delivery tag in CorrelationId, so a basic.return (which arrives before
// the message's ack) is matched to its publisher.
type pubChannel struct {
	ch  *amqp.Channel
	m   *metrics
	log *slog.Logger
	// nackReopen: after this many nacks in a row the channel is closed
	// (keepPublisher opens a fresh one); nackRun counts them, under mu.
	nackReopen int
	nackRun    int
	slots      chan struct{} // a token per unconfirmed message: the confirm window
	sendMu     chan struct{} // capacity 1: serialises taking a tag and sending
	done       chan struct{} // closed when the channel is closed and all pending failed

	mu      sync.Mutex
	closed  bool
	pending map[uint64]*inflight
}

// openPublisher opens a channel in confirm mode and starts its confirm
// loop.
func (b *Broker) openPublisher(s *session) (*pubChannel, error) {
	ch, err := s.conn.Channel()
	if err != nil {
		return nil, err
	}
	if err := ch.Confirm(false); err != nil {
		_ = ch.Close()
		return nil, err
	}
	pc := &pubChannel{
		ch:         ch,
		m:          b.m,
		log:        b.log,
		nackReopen: b.cfg.NackReopen,
		slots:      make(chan struct{}, b.cfg.ConfirmWindow),
		sendMu:     make(chan struct{}, 1),
		done:       make(chan struct{}),
		pending:    make(map[uint64]*inflight),
	}
	// Confirms are read without pause, so a small buffer does; returns are
	// buffered for a whole window so the connection's reader never waits on
	// them.
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 64))
	returns := ch.NotifyReturn(make(chan amqp.Return, b.cfg.ConfirmWindow))
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		pc.run(confirms, returns)
	}()
	return pc, nil
}

// run resolves confirms in order until the channel closes. A return for a
// message is sent by the library before that message's confirm, so draining
// the returns before resolving a confirm never misses one.
func (pc *pubChannel) run(confirms <-chan amqp.Confirmation, returns <-chan amqp.Return) {
	defer close(pc.done)
	// got takes one receive from returns; a closed channel is set to nil,
	// so it is never selected again.
	got := func(r amqp.Return, ok bool) {
		if !ok {
			returns = nil
			return
		}
		pc.noteReturn(r)
	}
	drain := func() {
		for returns != nil {
			select {
			case r, ok := <-returns:
				got(r, ok)
			default:
				return
			}
		}
	}
	for {
		select {
		case r, ok := <-returns:
			got(r, ok)
		case c, ok := <-confirms:
			if !ok {
				drain()
				pc.failAll()
				return
			}
			drain()
			pc.resolve(c)
		}
	}
}

func (pc *pubChannel) noteReturn(r amqp.Return) {
	pc.m.returned.Inc()
	tag, err := strconv.ParseUint(r.CorrelationId, 10, 64)
	if err != nil {
		return
	}
	pc.mu.Lock()
	if p := pc.pending[tag]; p != nil {
		p.ret = &r
	}
	pc.mu.Unlock()
}

func (pc *pubChannel) resolve(c amqp.Confirmation) {
	pc.mu.Lock()
	p := pc.pending[c.DeliveryTag]
	delete(pc.pending, c.DeliveryTag)
	reopen := false
	if c.Ack {
		pc.nackRun = 0
	} else if pc.nackRun++; pc.nackRun == pc.nackReopen {
		reopen = true
	}
	pc.mu.Unlock()
	if reopen {
		// A channel opened during a quorum queue's leader election can
		// stay refused after it; a fresh one is not. Closing it fails
		// what is still in flight on it (unavailable: the caller
		// retries) and keepPublisher opens another.
		pc.m.nackReopens.Inc()
		pc.log.Warn("publisher channel nacked repeatedly; reopening it", "nacks", pc.nackReopen)
		go func() { _ = pc.ch.Close() }()
	}
	if p == nil {
		return
	}
	<-pc.slots
	pc.m.confirmLatency.Observe(time.Since(p.sent).Seconds())
	switch {
	case !c.Ack:
		p.result <- errNacked
	case p.ret != nil:
		p.result <- fmt.Errorf("exchange %q, routing key %q: %w: %s (%d)",
			p.out.exchange, p.out.key, broker.ErrUnroutable, p.ret.ReplyText, p.ret.ReplyCode)
	default:
		p.result <- nil
	}
}

// failAll fails every unconfirmed message: the channel is gone, so whether
// the broker kept them is unknown.
func (pc *pubChannel) failAll() {
	pc.mu.Lock()
	pc.closed = true
	pending := pc.pending
	pc.pending = nil
	pc.mu.Unlock()
	for _, p := range pending {
		p.result <- fmt.Errorf("%w: channel closed before the confirm", broker.ErrUnavailable)
	}
}

func (pc *pubChannel) isClosed() bool {
	select {
	case <-pc.done:
		return true
	default:
		return pc.ch.IsClosed()
	}
}

// load is how full the channel's confirm window is.
func (pc *pubChannel) load() int { return len(pc.slots) }

// send takes room in the window and sends out. The outcome arrives on the
// returned inflight's result. ctx bounds the wait for room; parent tells a
// caller's cancellation from the publish timeout.
func (pc *pubChannel) send(ctx, parent context.Context, out *outgoing) (*inflight, error) {
	full := func() error {
		if err := parent.Err(); err != nil {
			return err
		}
		return fmt.Errorf("%w: confirm window of %d messages full", broker.ErrOverloaded, cap(pc.slots))
	}
	select {
	case pc.slots <- struct{}{}:
	default:
		select {
		case pc.slots <- struct{}{}:
		case <-pc.done:
			return nil, fmt.Errorf("%w: publisher channel closed", broker.ErrUnavailable)
		case <-ctx.Done():
			return nil, full()
		}
	}
	release := func() { <-pc.slots }
	select {
	case pc.sendMu <- struct{}{}:
	case <-pc.done:
		release()
		return nil, fmt.Errorf("%w: publisher channel closed", broker.ErrUnavailable)
	case <-ctx.Done():
		release()
		return nil, full()
	}
	defer func() { <-pc.sendMu }()

	tag := pc.ch.GetNextPublishSeqNo()
	p := &inflight{out: out, sent: time.Now(), result: make(chan error, 1)}
	pc.mu.Lock()
	if pc.closed {
		pc.mu.Unlock()
		release()
		return nil, fmt.Errorf("%w: publisher channel closed", broker.ErrUnavailable)
	}
	pc.pending[tag] = p
	pc.mu.Unlock()

	msg := out.msg
	msg.CorrelationId = strconv.FormatUint(tag, 10)
	if _, err := pc.ch.PublishWithDeferredConfirm(out.exchange, out.key, true, false, msg); err != nil {
		pc.mu.Lock()
		_, mine := pc.pending[tag]
		delete(pc.pending, tag)
		pc.mu.Unlock()
		if mine {
			// Not sent: the library took back the tag.
			release()
			if errors.Is(err, amqp.ErrFieldType) {
				p.result <- fault.Permanent(fmt.Errorf("header value: %w", err))
			} else {
				p.result <- fmt.Errorf("%w: %v", broker.ErrUnavailable, err)
			}
		}
	}
	return p, nil
}

// pick returns the open publisher channel with the most room, or nil.
func (s *session) pick() *pubChannel {
	var best *pubChannel
	for _, slot := range s.pubs {
		pc := slot.cur.Load()
		if pc == nil || pc.isClosed() {
			continue
		}
		if best == nil || pc.load() < best.load() {
			best = pc
		}
	}
	return best
}

// keepPublisher replaces slot's channel when it closes while s lives (a
// channel-level error), until s is lost.
func (b *Broker) keepPublisher(s *session, slot *pubSlot) {
	defer b.wg.Done()
	for {
		pc := slot.cur.Load()
		select {
		case <-s.lost:
			return
		case <-pc.done:
		}
		if s.conn.IsClosed() {
			return // the connection went: the supervisor starts over
		}
		for attempt := 0; ; attempt++ {
			select {
			case <-s.lost:
				return
			default:
			}
			npc, err := b.openPublisher(s)
			if err == nil {
				slot.cur.Store(npc)
				break
			}
			if s.conn.IsClosed() {
				return
			}
			if attempt == 0 {
				b.log.Warn("reopening publisher channel failed", "err", err)
			}
			t := time.NewTimer(backoff.Default.Delay(attempt))
			select {
			case <-s.lost:
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// Publish sends msgs to exchange as persistent, mandatory messages and
// returns once the broker confirmed every one of them, or failed. Messages
// of one call go out in order on one channel, pipelined. See
// broker.Publisher.
func (b *Broker) Publish(ctx context.Context, exchange string, msgs []broker.Message) error {
	return b.publishEach(ctx, msgs, func(_ int, m broker.Message) (string, string, amqp.Table) {
		return exchange, m.RoutingKey, headersToTable(m.Headers)
	})
}

// publishEach publishes msgs persistent and mandatory, msgs[i] to the
// exchange, routing key and headers route gives it, and returns as Publish
// does.
func (b *Broker) publishEach(ctx context.Context, msgs []broker.Message, route func(i int, m broker.Message) (exchange, key string, headers amqp.Table)) error {
	if len(msgs) == 0 {
		return nil
	}
	if b.isClosing() {
		b.m.publishErrors.WithLabelValues(errorKind(broker.ErrClosed)).Add(float64(len(msgs)))
		return fmt.Errorf("rabbitmq: publish: %w", broker.ErrClosed)
	}
	now := time.Now()
	outs := make([]outgoing, len(msgs))
	for i, m := range msgs {
		exchange, key, headers := route(i, m)
		outs[i] = outgoing{exchange: exchange, key: key, msg: amqp.Publishing{
			Headers:      headers,
			ContentType:  m.ContentType,
			DeliveryMode: amqp.Persistent,
			MessageId:    m.ID,
			Timestamp:    now,
			Body:         m.Body,
		}}
	}
	return b.publish(ctx, outs)
}

// checkFrame refuses a message holding a string longer than an AMQP short
// string (exchange, routing key, message id, content type, header names).
func checkFrame(o *outgoing) error {
	if err := broker.CheckShortString("exchange", o.exchange); err != nil {
		return err
	}
	if err := broker.CheckShortString("routing key", o.key); err != nil {
		return err
	}
	if err := broker.CheckShortString("message id", o.msg.MessageId); err != nil {
		return err
	}
	if err := broker.CheckShortString("content type", o.msg.ContentType); err != nil {
		return err
	}
	for k := range o.msg.Headers {
		if err := broker.CheckShortString("header name", k); err != nil {
			return fmt.Errorf("header %q…: %w", truncateKey(k), err)
		}
	}
	return nil
}

func truncateKey(s string) string {
	if len(s) > 40 {
		return s[:40]
	}
	return s
}

// MaxMessageBytes implements broker.Limits: RabbitMQ's default
// max_message_size.
func (b *Broker) MaxMessageBytes() int { return maxBody }

var _ broker.Limits = (*Broker)(nil)

// publish sends outs with confirms. It returns nil, a *broker.PublishError
// naming the failed indexes, or an error meaning none was sent.
func (b *Broker) publish(ctx context.Context, outs []outgoing) error {
	fail := func(err error) error {
		b.m.publishErrors.WithLabelValues(errorKind(err)).Add(float64(len(outs)))
		return fmt.Errorf("rabbitmq: publish: %w", err)
	}
	s := b.session()
	if s == nil {
		return fail(fmt.Errorf("%w: not connected", broker.ErrUnavailable))
	}
	if s.blocked.Load() {
		return fail(fmt.Errorf("%w: the server blocks publishing (resource alarm)", broker.ErrOverloaded))
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	failed := map[int]error{}
	checked := map[string]error{}
	for i := range outs {
		ex := outs[i].exchange
		err, ok := checked[ex]
		if !ok {
			err = b.checkExchange(s, ex)
			checked[ex] = err
		}
		if err != nil {
			failed[i] = err
		} else if err := checkFrame(&outs[i]); err != nil {
			// A string longer than the frame allows would make amqp091
			// close the whole connection, failing every publish on it.
			failed[i] = fault.Permanent(err)
			b.m.publishErrors.WithLabelValues("too_long").Inc()
		} else if n := len(outs[i].msg.Body); n > maxBody {
			failed[i] = fault.Permanent(fmt.Errorf("message of %d bytes exceeds the broker's limit of %d", n, maxBody))
		} else if err := frameError(&outs[i]); err != nil {
			failed[i] = err
		}
	}
	pc := s.pick()
	if pc == nil {
		return fail(fmt.Errorf("%w: no open publisher channel", broker.ErrUnavailable))
	}
	tctx, cancel := context.WithTimeout(ctx, b.cfg.PublishTimeout)
	defer cancel()
	waits := make([]*inflight, len(outs))
	var stop error
	for i := range outs {
		if failed[i] != nil {
			continue
		}
		if stop != nil {
			failed[i] = stop
			continue
		}
		p, err := pc.send(tctx, ctx, &outs[i])
		if err != nil {
			failed[i] = err
			stop = err // the window stays full / the channel closed / ctx ended
			continue
		}
		waits[i] = p
	}
	for i, p := range waits {
		if p == nil {
			continue
		}
		select {
		case err := <-p.result:
			if err != nil {
				failed[i] = err
			}
		case <-tctx.Done():
			select {
			case err := <-p.result: // confirmed just in time
				if err != nil {
					failed[i] = err
				}
				continue
			default:
			}
			switch {
			case ctx.Err() != nil:
				failed[i] = ctx.Err()
			case s.blocked.Load():
				failed[i] = fmt.Errorf("%w: no confirm within %s: the server blocks publishing (resource alarm)", broker.ErrOverloaded, b.cfg.PublishTimeout)
			default:
				failed[i] = fmt.Errorf("%w: no confirm within %s", broker.ErrUnavailable, b.cfg.PublishTimeout)
			}
		}
	}
	b.m.published.Add(float64(len(outs) - len(failed)))
	if len(failed) == 0 {
		return nil
	}
	for _, err := range failed {
		b.m.publishErrors.WithLabelValues(errorKind(err)).Inc()
	}
	return &broker.PublishError{Failed: failed}
}

// checkExchange reports whether exchange exists, so that a publish to a
// missing one (which the server answers by closing the channel, failing
// every message in flight on it) is refused up front.
func (b *Broker) checkExchange(s *session, exchange string) error {
	if b.known[exchange] {
		return nil
	}
	if _, ok := b.verified.Load(exchange); ok {
		return nil
	}
	ch, err := s.conn.Channel()
	if err != nil {
		return fmt.Errorf("%w: %v", broker.ErrUnavailable, err)
	}
	defer func() {
		if !ch.IsClosed() {
			_ = ch.Close()
		}
	}()
	err = ch.ExchangeDeclarePassive(exchange, amqp.ExchangeDirect, true, false, false, false, nil)
	var ae *amqp.Error
	switch {
	case err == nil:
		b.verified.Store(exchange, true)
		return nil
	case errors.As(err, &ae) && ae.Code == amqp.NotFound:
		return fmt.Errorf("exchange %q does not exist: %w", exchange, broker.ErrUnroutable)
	default:
		return fmt.Errorf("%w: checking exchange %q: %v", broker.ErrUnavailable, exchange, err)
	}
}
