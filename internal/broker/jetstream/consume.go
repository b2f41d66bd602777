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

	"github.com/event-grpc/event-grpc/internal/backoff"
	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// idleWait is how long an idle consumer's pull request waits for a first
// message. It bounds how long Consume takes to notice its context ended.
const idleWait = time.Second

// fetchSlack is what a message's subject, reply and headers add to its
// body in a pull request's byte count.
const fetchSlack = 64 << 10

// Consume runs q.Consumers pull loops on q's durable consumer. Each takes
// one batch at a time: it waits for a first message, then gathers more for
// up to q.Batch.MaxWait, q.Batch.MaxMessages messages or q.Batch.MaxBytes
// body bytes, hands the batch to h and settles it by h's result (see
// broker.BatchHandler) before it fetches again, so a loop never holds more
// than one batch. Connection loss and a missing consumer are retried with
// backoff. When ctx ends the batch in hand is finished; Consume returns
// nil. It returns broker.ErrClosed if the broker is closed first.
func (b *Broker) Consume(ctx context.Context, q topology.Queue, h broker.BatchHandler) error {
	n, ok := b.names.byQueue[q.Name]
	if !ok || n.owner != "" {
		return fmt.Errorf("jetstream: consume %q: not a queue of the topology", q.Name)
	}
	if h == nil {
		return fmt.Errorf("jetstream: consume %q: nil handler", q.Name)
	}
	q.Consumers = max(1, q.Consumers)
	q.Batch.MaxMessages = max(1, q.Batch.MaxMessages)
	if q.Batch.MaxBytes <= 0 {
		q.Batch.MaxBytes = topology.DefaultMaxBytes
	}
	if q.Batch.MaxWait <= 0 {
		q.Batch.MaxWait = topology.DefaultMaxWait
	}
	errs := make([]error, q.Consumers)
	var wg sync.WaitGroup
	for i := range q.Consumers {
		w := &worker{b: b, q: q, n: n, h: h}
		wg.Go(func() { errs[i] = w.run(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// worker is one pull loop of a queue.
type worker struct {
	b    *Broker
	q    topology.Queue
	n    queueNames
	h    broker.BatchHandler
	cons jetstream.Consumer
}

func (w *worker) run(ctx context.Context) error {
	// From here on ctx also ends when the broker closes.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(w.b.lifetime, cancel)()
	failures := 0
	for {
		if w.b.isClosing() {
			return fmt.Errorf("jetstream: consume %s: %w", w.q.Name, broker.ErrClosed)
		}
		if ctx.Err() != nil {
			return nil
		}
		msgs, err := w.fetch(ctx)
		if ctx.Err() != nil || w.b.isClosing() {
			// Taken after the stop was asked: give them back at once
			// rather than letting them wait out the ack wait.
			nakAll(msgs)
			continue
		}
		if err != nil {
			nakAll(msgs)
			if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) ||
				errors.Is(err, jetstream.ErrConsumerDoesNotExist) || errors.Is(err, nats.ErrNoResponders) {
				w.cons = nil // look it up (and declare it again) next time
			}
			if failures == 0 {
				w.b.log.Warn("jetstream: fetch failed, retrying", "queue", w.q.Name, "err", err)
			}
			_ = backoff.Default.Sleep(ctx, failures)
			failures++
			continue
		}
		if failures > 0 {
			w.b.log.Info("jetstream: fetching again", "queue", w.q.Name, "after_failures", failures)
			failures = 0
		}
		if len(msgs) == 0 {
			continue
		}
		w.b.m.consumed.WithLabelValues(w.q.Name).Add(float64(len(msgs)))
		for _, part := range splitBytes(msgs, w.q.Batch.MaxBytes) {
			if ctx.Err() != nil {
				nakAll(part) // not handed yet: give back
				continue
			}
			w.handle(ctx, part)
		}
	}
}

// consumer returns the durable consumer, declaring it again if it is gone.
func (w *worker) consumer(ctx context.Context) (jetstream.Consumer, error) {
	if w.cons != nil {
		return w.cons, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := w.b.js.Consumer(ctx, w.b.cfg.Stream, w.n.durable)
	if errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrConsumerNotFound) {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			w.b.log.Warn("jetstream: the stream is gone; declaring the topology again", "stream", w.b.cfg.Stream)
			err = w.b.declare(ctx)
		} else {
			w.b.log.Warn("jetstream: the queue's consumer is gone; declaring it again", "queue", w.q.Name)
			err = w.b.declareConsumer(ctx, w.q.Name)
		}
		if err == nil {
			c, err = w.b.js.Consumer(ctx, w.b.cfg.Stream, w.n.durable)
		}
	}
	if err != nil {
		return nil, err
	}
	w.cons = c
	return c, nil
}

// fetch takes one batch: up to idleWait for a first message, then up to
// MaxWait more for the rest. It returns what it got even with an error.
func (w *worker) fetch(ctx context.Context) ([]jetstream.Msg, error) {
	c, err := w.consumer(ctx)
	if err != nil {
		return nil, err
	}
	first, err := drain(c.Fetch(1, jetstream.FetchMaxWait(idleWait)))
	if err != nil || len(first) == 0 || w.q.Batch.MaxMessages == 1 || ctx.Err() != nil {
		return first, err
	}
	// The pull request's byte budget: the batch's, but never below the
	// largest possible message, which would otherwise never be delivered.
	budget := max(w.q.Batch.MaxBytes, w.b.maxPayload+fetchSlack) - msgSize(first[0])
	rest, err := drain(c.Fetch(w.q.Batch.MaxMessages-1,
		jetstream.FetchMaxWait(w.q.Batch.MaxWait), jetstream.FetchMaxBytes(max(1, budget))))
	return append(first, rest...), err
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

func msgSize(m jetstream.Msg) int {
	n := len(m.Subject()) + len(m.Reply()) + len(m.Data())
	for k, vs := range m.Headers() {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// splitBytes cuts msgs into runs whose bodies stay within maxBytes; a
// single larger message is a run of its own.
func splitBytes(msgs []jetstream.Msg, maxBytes int) [][]jetstream.Msg {
	var out [][]jetstream.Msg
	start, size := 0, 0
	for i, m := range msgs {
		l := len(m.Data())
		if i > start && size+l > maxBytes {
			out = append(out, msgs[start:i])
			start, size = i, 0
		}
		size += l
	}
	return append(out, msgs[start:])
}

// handle hands one batch to the handler until it is settled or the worker
// stops, keeping the messages from being redelivered meanwhile.
func (w *worker) handle(ctx context.Context, msgs []jetstream.Msg) {
	ds := make([]broker.Delivery, len(msgs))
	for i, m := range msgs {
		ds[i] = toDelivery(w.q.Name, m)
	}
	keep := w.keepAlive(msgs)
	defer keep()

	// The batch in hand may finish after ctx ends; only Close cuts it.
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	defer context.AfterFunc(w.b.lifetime, cancel)()

	for attempt := 0; ; attempt++ {
		err := w.h(hctx, ds)
		if err == nil {
			keep()
			w.ack(msgs)
			return
		}
		var fm *broker.FailedMessages
		if errors.As(err, &fm) {
			// The failed messages stay in progress until their copies
			// are stored.
			w.settle(ctx, hctx, msgs, ds, fm)
			return
		}
		w.b.m.transient.WithLabelValues(w.q.Name).Inc()
		if attempt == 0 {
			w.b.log.Warn("jetstream: handler failed, holding the batch and retrying",
				"queue", w.q.Name, "messages", len(msgs), "err", err)
		}
		wait := backoff.Default.Delay(attempt)
		if ra := fault.RetryAfter(err); ra > wait {
			wait = ra
		}
		if !sleep(ctx, wait) {
			keep()
			nakAll(msgs)
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// keepAlive tells the server every third of the ack wait that msgs are
// still being worked on. The returned stop is safe to call twice.
func (w *worker) keepAlive(msgs []jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(w.b.cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				for _, m := range msgs {
					_ = m.InProgress() // a lost one means at most a redelivery
				}
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-finished
		})
	}
}

// ack acknowledges msgs and flushes, so the acks have reached the server
// before the next batch is fetched.
func (w *worker) ack(msgs []jetstream.Msg) {
	var failed int
	var last error
	for _, m := range msgs {
		if err := m.Ack(); err != nil {
			failed++
			last = err
		}
	}
	if failed == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), w.b.cfg.PublishTimeout)
		if err := w.b.nc.FlushWithContext(ctx); err != nil {
			failed, last = len(msgs), err
		}
		cancel()
	}
	w.b.m.acked.WithLabelValues(w.q.Name).Add(float64(len(msgs) - failed))
	if failed > 0 {
		w.b.m.ackErrors.WithLabelValues(w.q.Name).Add(float64(failed))
		w.b.log.Warn("jetstream: acks not confirmed; the messages will be delivered again",
			"queue", w.q.Name, "messages", failed, "err", last)
	}
}

// settle acks the messages that succeeded, republishes the failed ones as
// retries or dead letters, and acks each of those once its copy is stored.
// A republish that fails is tried again with backoff; if the worker stops
// first the remaining failed messages are given back (and will fail again
// on their next delivery, with the same retry count).
//
// pctx bounds the publishes: it outlives ctx, so a batch in hand when the
// worker is asked to stop still gets its copies stored and acked.
func (w *worker) settle(ctx, pctx context.Context, msgs []jetstream.Msg, ds []broker.Delivery, fm *broker.FailedMessages) {
	var ok []jetstream.Msg
	for i, m := range msgs {
		if _, bad := fm.Failed[i]; !bad {
			ok = append(ok, m)
		}
	}
	var bogus []int
	for i := range fm.Failed {
		if i < 0 || i >= len(msgs) {
			bogus = append(bogus, i)
		}
	}
	if len(bogus) > 0 {
		w.b.log.Error("jetstream: handler named failed messages outside its batch; ignored",
			"queue", w.q.Name, "indexes", bogus, "batch", len(msgs))
	}
	if len(ok) > 0 {
		w.ack(ok)
	}

	type pending struct {
		msg  jetstream.Msg
		out  outMsg
		dead bool
	}
	var todo []pending
	for _, i := range slices.Sorted(maps.Keys(fm.Failed)) {
		if i < 0 || i >= len(msgs) {
			continue
		}
		p := pending{msg: msgs[i]}
		p.out, p.dead = w.republish(msgs[i], ds[i], fm.Failed[i])
		todo = append(todo, p)
	}
	for attempt := 0; len(todo) > 0; attempt++ {
		outs := make([]outMsg, len(todo))
		for k, p := range todo {
			outs[k] = p.out
		}
		errs := w.b.publishRaw(pctx, outs)
		var again []pending
		var done []jetstream.Msg
		var last error
		for k, p := range todo {
			if errs[k] != nil {
				again = append(again, p)
				last = errs[k]
				continue
			}
			done = append(done, p.msg)
			if p.dead {
				w.b.m.deadLettered.WithLabelValues(w.q.Name).Inc()
			} else {
				w.b.m.retried.WithLabelValues(w.q.Name).Inc()
			}
		}
		if len(done) > 0 {
			w.ack(done)
		}
		todo = again
		if len(todo) == 0 {
			return
		}
		if attempt == 0 {
			w.b.log.Warn("jetstream: could not store retries or dead letters, retrying",
				"queue", w.q.Name, "messages", len(todo), "err", last)
		}
		if !sleep(ctx, backoff.Default.Delay(attempt)) {
			for _, p := range todo {
				_ = p.msg.Nak()
			}
			return
		}
	}
}

// republish builds the retry (or, once the retries are spent, the dead
// letter) of a failed delivery. Its message id is derived from the
// original's stream sequence, so storing it twice (after a lost ack) is
// de-duplicated.
func (w *worker) republish(m jetstream.Msg, d broker.Delivery, cause error) (outMsg, bool) {
	if cause == nil {
		cause = errors.New("failed without a reason")
	}
	var seq uint64
	if md, err := m.Metadata(); err == nil {
		seq = md.Sequence.Stream
	}
	dead := broker.ShouldDeadLetter(w.q, d)
	var (
		hdrs             map[string]string
		target, exchange string
		routingKey       string
		kind             string
	)
	if dead {
		hdrs = broker.DeadLetterHeaders(d, cause)
		target, exchange, routingKey, kind = w.q.ErrorQueue(), w.b.top.ErrorExchange, w.q.Name, "dead"
	} else {
		hdrs = broker.RetryHeaders(d, cause)
		target, exchange, routingKey, kind = w.q.Name, d.Exchange, d.RoutingKey, "retry"
	}
	n := w.b.names.byQueue[target]
	h := make(nats.Header, len(hdrs)+4)
	for k, v := range hdrs {
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
	if seq > 0 {
		h[natsMsgID] = []string{kind + "|" + w.n.durable + "|" + strconv.FormatUint(seq, 10)}
	}
	return outMsg{msg: &nats.Msg{Subject: n.subject, Header: h, Data: m.Data()}}, dead
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
// Headers, and the retry count is read from them.
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
	d.RetryCount = broker.RetryCount(d.Headers)
	return d
}
