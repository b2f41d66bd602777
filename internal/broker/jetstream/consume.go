package jetstream

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// fetchSlack is what a message's subject, reply and headers add to its
// body in a pull request's byte count.
const fetchSlack = 64 << 10

// idleCheck is how long a subscription fetches nothing before it asks the
// server whether its consumer still exists. A consumer deleted while no
// pull request is pending is not always announced: nats-server 2.9 can
// leave the deleted consumer's request subject answered by nobody and
// unreported, so pulls just expire, empty, for ever.
const idleCheck = 5 * time.Second

// Subscribe opens a pull subscription on q's durable consumer, declaring
// the consumer (or the whole stream) again if it is gone. Deliveries
// fetched and not yet settled are kept alive (in progress) every third of
// the ack wait. See broker.Transport.
func (b *Broker) Subscribe(ctx context.Context, q topology.Queue) (broker.Subscription, error) {
	n, ok := b.names.byQueue[q.Name]
	if !ok || n.owner != "" {
		return nil, fault.Permanent(fmt.Errorf("jetstream: subscribe %q: not a queue of the topology", q.Name))
	}
	if b.isClosing() {
		return nil, fmt.Errorf("jetstream: subscribe %s: %w", q.Name, broker.ErrClosed)
	}
	s := &subscription{b: b, q: q, n: n, inflight: map[uint64]jetstream.Msg{}, done: make(chan struct{}), finished: make(chan struct{})}
	if _, err := s.consumer(ctx); err != nil {
		return nil, fmt.Errorf("jetstream: subscribe %s: %w", q.Name, classifyAPI(err))
	}
	go s.keepAlive()
	return s, nil
}

// subscription is one pull loop's view of a durable consumer. Tags index
// inflight.
type subscription struct {
	b    *Broker
	q    topology.Queue
	n    queueNames
	cons jetstream.Consumer // nil: look it up (declare it again) first

	idleSince time.Time // first of the current run of empty fetches; zero: the last one brought messages

	mu       sync.Mutex
	inflight map[uint64]jetstream.Msg
	next     uint64
	closed   bool

	done     chan struct{} // closed by Close: stops keepAlive
	finished chan struct{} // closed when keepAlive returned
}

// consumer returns the durable consumer, declaring it again if it is gone.
func (s *subscription) consumer(ctx context.Context) (jetstream.Consumer, error) {
	if s.cons != nil {
		return s.cons, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := s.b.js.Consumer(ctx, s.n.stream, s.n.durable)
	if errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrConsumerNotFound) {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			s.b.log.Warn("jetstream: the queue's stream is gone; declaring the topology again", "stream", s.n.stream)
			err = s.b.declare(ctx)
		} else {
			s.b.log.Warn("jetstream: the queue's consumer is gone; declaring it again", "queue", s.q.Name)
			err = s.b.declareConsumer(ctx, s.q.Name)
		}
		if err == nil {
			s.b.m.redeclared.WithLabelValues(s.q.Name).Inc()
			c, err = s.b.js.Consumer(ctx, s.n.stream, s.n.durable)
		}
	}
	if err != nil {
		return nil, err
	}
	s.cons = c
	return c, nil
}

// Fetch pulls up to limit messages, waiting up to wait for them to arrive
// (a pull request waits to fill up until it expires). One request asks for
// at most the queue's batch bytes, but never less than the largest message
// the server takes. See broker.Subscription.
func (s *subscription) Fetch(ctx context.Context, limit int, wait time.Duration) ([]broker.Delivery, error) {
	if s.b.isClosing() {
		return nil, fmt.Errorf("jetstream: fetch %s: %w", s.q.Name, broker.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := s.consumer(ctx)
	if err != nil {
		return nil, fmt.Errorf("jetstream: fetch %s: %w", s.q.Name, classifyAPI(err))
	}
	opts := []jetstream.FetchOpt{jetstream.FetchMaxWait(max(wait, time.Millisecond))}
	if limit > 1 {
		opts = append(opts, jetstream.FetchMaxBytes(max(s.q.Batch.MaxBytes, s.b.payloadLimit()+fetchSlack)))
	}
	msgs, err := drain(c.Fetch(limit, opts...))
	if s.b.isClosing() {
		nakAll(msgs) // taken after Close began: give them back at once
		return nil, fmt.Errorf("jetstream: fetch %s: %w", s.q.Name, broker.ErrClosed)
	}
	out := s.track(msgs)
	if err == nil && len(msgs) == 0 {
		err = s.checkIdle(ctx, c)
	} else if len(msgs) > 0 {
		s.idleSince = time.Time{}
	}
	if err != nil {
		if consumerGone(err) {
			// The consumer is gone: what it handed out means nothing to
			// the one declared next.
			s.cons, s.idleSince = nil, time.Time{}
			return nil, fmt.Errorf("jetstream: fetch %s: %w: %v", s.q.Name, broker.ErrLost, err)
		}
		return out, fmt.Errorf("jetstream: fetch %s: %w", s.q.Name, classifyAPI(err))
	}
	return out, nil
}

// checkIdle asks the server, once per idleCheck of empty fetches, whether
// the consumer still exists; it returns the answer's error if it does not,
// nil otherwise (a failure to ask shows in the next fetch).
func (s *subscription) checkIdle(ctx context.Context, c jetstream.Consumer) error {
	now := time.Now()
	if s.idleSince.IsZero() {
		s.idleSince = now
		return nil
	}
	if now.Sub(s.idleSince) < idleCheck {
		return nil
	}
	s.idleSince = now
	ctx, cancel := context.WithTimeout(ctx, s.b.cfg.PublishTimeout)
	defer cancel()
	if _, err := c.Info(ctx); consumerGone(err) {
		return err
	}
	return nil
}

// consumerGone reports whether err says the consumer (or its stream) no
// longer exists on the server.
func consumerGone(err error) bool {
	return errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) ||
		errors.Is(err, jetstream.ErrConsumerDoesNotExist) || errors.Is(err, jetstream.ErrStreamNotFound) ||
		errors.Is(err, nats.ErrNoResponders)
}

// track registers fetched messages as in flight and converts them.
func (s *subscription) track(msgs []jetstream.Msg) []broker.Delivery {
	if len(msgs) == 0 {
		return nil
	}
	out := make([]broker.Delivery, len(msgs))
	s.mu.Lock()
	for i, m := range msgs {
		s.next++
		s.inflight[s.next] = m
		out[i] = toDelivery(s.q.Name, m)
		out[i].Tag = s.next
	}
	s.mu.Unlock()
	s.b.m.consumed.WithLabelValues(s.q.Name).Add(float64(len(msgs)))
	return out
}

// take returns the in-flight messages of ds, removing them when remove.
func (s *subscription) take(ds []broker.Delivery, remove bool) []jetstream.Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	msgs := make([]jetstream.Msg, 0, len(ds))
	for _, d := range ds {
		if m, ok := s.inflight[d.Tag]; ok {
			msgs = append(msgs, m)
			if remove {
				delete(s.inflight, d.Tag)
			}
		}
	}
	return msgs
}

// Settle acks (and flushes, so the acks reached the server before the next
// fetch), naks (with the delay, if any) or marks in progress. See
// broker.Subscription.
func (s *subscription) Settle(ctx context.Context, ds []broker.Delivery, f broker.Fate) error {
	if f.Verb == broker.VerbInProgress {
		if s.b.isClosing() {
			return fmt.Errorf("jetstream: %s: %w", s.q.Name, broker.ErrClosed)
		}
		if s.cons == nil {
			return fmt.Errorf("jetstream: %s: %w", s.q.Name, broker.ErrLost)
		}
		for _, m := range s.take(ds, false) {
			_ = m.InProgress() // a lost one means at most a redelivery
		}
		return nil
	}
	msgs := s.take(ds, true)
	var failed int
	var last error
	for _, m := range msgs {
		var err error
		switch {
		case f.Verb == broker.VerbAck:
			err = m.Ack()
		case f.Delay > 0:
			err = m.NakWithDelay(f.Delay)
		default:
			err = m.Nak()
		}
		if err != nil {
			failed++
			last = err
		}
	}
	if f.Verb != broker.VerbAck {
		if failed > 0 {
			return fmt.Errorf("jetstream: nak %s: %w", s.q.Name, classifyAPI(last))
		}
		return nil
	}
	if failed == 0 && len(msgs) > 0 {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.b.cfg.PublishTimeout)
		if err := s.b.nc.FlushWithContext(fctx); err != nil {
			failed, last = len(msgs), err
		}
		cancel()
	}
	s.b.m.acked.WithLabelValues(s.q.Name).Add(float64(len(msgs) - failed))
	if failed > 0 {
		s.b.m.ackErrors.WithLabelValues(s.q.Name).Add(float64(failed))
		return fmt.Errorf("jetstream: %d ack(s) of %s not confirmed: %w", failed, s.q.Name, classifyAPI(last))
	}
	return nil
}

// Republish stores each copy in the queue's own subject (with the original
// exchange and routing key) or in its error queue's subject (with the error
// exchange and the queue's name as key), and waits for the PubAcks. A
// copy's Nats-Msg-Id is derived from the original's stream sequence, so
// storing it twice (after a lost ack) is de-duplicated. See
// broker.Subscription.
func (s *subscription) Republish(ctx context.Context, rs []broker.Republish) error {
	outs := make([]outMsg, len(rs))
	s.mu.Lock()
	for k, r := range rs {
		outs[k] = s.copyMsg(r, s.inflight[r.Delivery.Tag])
	}
	s.mu.Unlock()
	errs := s.b.publishRaw(ctx, outs)
	failed := map[int]error{}
	for k, err := range errs {
		if err != nil {
			failed[k] = err
		}
	}
	if len(failed) > 0 {
		return &broker.PublishError{Failed: failed}
	}
	return nil
}

// copyMsg builds the stored copy of r; m is its original (nil if unknown).
func (s *subscription) copyMsg(r broker.Republish, m jetstream.Msg) outMsg {
	d := r.Delivery
	target, exchange, routingKey, kind := s.q.Name, d.Exchange, d.RoutingKey, "retry"
	if r.DeadLetter {
		target, exchange, routingKey, kind = s.q.ErrorQueue(), s.b.top.ErrorExchange, s.q.Name, "dead"
	}
	h := make(nats.Header, len(r.Headers)+5)
	for k, v := range r.Headers {
		h[k] = []string{v}
	}
	h[headerExchange] = []string{exchange}
	h[headerRoutingKey] = []string{routingKey}
	if d.ContentType != "" {
		h[headerContentType] = []string{d.ContentType}
	}
	if d.ID != "" {
		h[headerMessageID] = []string{d.ID}
	}
	if m != nil {
		if md, err := m.Metadata(); err == nil {
			h[natsMsgID] = []string{kind + "|" + s.n.durable + "|" + strconv.FormatUint(md.Sequence.Stream, 10)}
		}
	}
	return outMsg{msg: &nats.Msg{Subject: s.b.names.byQueue[target].subject, Header: h, Data: d.Body}}
}

// keepAlive tells the server every third of the ack wait that the
// messages in flight are still being worked on.
func (s *subscription) keepAlive() {
	defer close(s.finished)
	t := time.NewTicker(s.b.cfg.AckWait / 3)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			s.mu.Lock()
			msgs := slices.Collect(maps.Values(s.inflight))
			s.mu.Unlock()
			for _, m := range msgs {
				_ = m.InProgress() // a lost one means at most a redelivery
			}
		}
	}
}

// Close stops the keep-alive and gives back (naks) what is still in
// flight. Safe to call twice.
func (s *subscription) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	msgs := slices.Collect(maps.Values(s.inflight))
	s.inflight = map[uint64]jetstream.Msg{}
	s.mu.Unlock()
	close(s.done)
	<-s.finished
	nakAll(msgs)
	return nil
}

func drain(batch jetstream.MessageBatch, err error) ([]jetstream.Msg, error) {
	if err != nil {
		return nil, err
	}
	var out []jetstream.Msg
	for m := range batch.Messages() {
		out = append(out, m)
	}
	return out, batch.Error()
}

// toDelivery converts a fetched message.
func toDelivery(queue string, m jetstream.Msg) broker.Delivery {
	d := rawDelivery(queue, m.Headers(), m.Data())
	if md, err := m.Metadata(); err == nil {
		d.Redelivered = md.NumDelivered > 1
		d.Published = md.Timestamp
	}
	return d
}

// rawDelivery converts a stored message's headers and body: the routing
// headers fill their fields, the others (less the broker's own) become
// Headers.
func rawDelivery(queue string, hs nats.Header, body []byte) broker.Delivery {
	d := broker.Delivery{Queue: queue, Body: body, Headers: make(map[string]string, len(hs))}
	for k, vs := range hs {
		if len(vs) == 0 {
			continue
		}
		switch k {
		case headerExchange:
			d.Exchange = vs[0]
		case headerRoutingKey:
			d.RoutingKey = vs[0]
		case headerContentType:
			d.ContentType = vs[0]
		case headerMessageID:
			d.ID = vs[0]
		}
		if !internalHeader(k) {
			d.Headers[k] = vs[0]
		}
	}
	return d
}
