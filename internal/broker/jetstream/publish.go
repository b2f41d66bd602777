package jetstream

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
)

// headerReserve is the room kept below the server's max payload for the
// headers this backend adds (exchange, routing key, content type, ids,
// insert time): MaxMessageBytes is the payload less it.
const headerReserve = 4 << 10

var (
	_ broker.QueueRouter = (*Broker)(nil)
	_ broker.Limits      = (*Broker)(nil)
)

// payloadLimit is the server's max payload once connected; NATS's
// default (1 MiB) until then.
func (b *Broker) payloadLimit() int {
	if mp := b.maxPayload.Load(); mp > 0 {
		return int(mp)
	}
	return defaultMaxPayload
}

// MaxMessageBytes implements broker.Limits: the server's max payload (read
// from the connection once connected, 1 MiB by default) less the room for
// headers. It may change when the broker first connects: callers read it
// for each message they cut.
func (b *Broker) MaxMessageBytes() int {
	return max(b.payloadLimit()-headerReserve, 1)
}

// Packs implements broker.QueueRouter: every exchange is routed at publish
// time (no consumer binds on a JetStream routing key).
func (b *Broker) Packs(string) bool { return true }

// Queues implements broker.QueueRouter: the topology's bindings decide.
func (b *Broker) Queues(exchange, routingKey string) []string {
	return b.top.Routes(exchange, routingKey)
}

// Publish routes each message by the topology (the exchange's bindings
// decide which queues it reaches, as RabbitMQ would), stores one copy per
// queue, and returns once the stream acknowledged every copy. A message
// that reaches no queue fails with broker.ErrUnroutable; a message counts
// as accepted only when all its copies were.
func (b *Broker) Publish(ctx context.Context, exchange string, msgs []broker.Message) error {
	return b.publish(ctx, exchange, msgs, func(i int) []string { return b.top.Routes(exchange, msgs[i].RoutingKey) })
}

// PublishToQueues implements broker.QueueRouter: msgs[i] is stored in
// queues[i] only.
func (b *Broker) PublishToQueues(ctx context.Context, exchange string, queues []string, msgs []broker.Message) error {
	if len(queues) != len(msgs) {
		return fault.Permanent(fmt.Errorf("jetstream: publish to queues: %d queues for %d messages", len(queues), len(msgs)))
	}
	return b.publish(ctx, exchange, msgs, func(i int) []string {
		if _, ok := b.names.byQueue[queues[i]]; !ok {
			return nil
		}
		return queues[i : i+1]
	})
}

func (b *Broker) publish(ctx context.Context, exchange string, msgs []broker.Message, routes func(i int) []string) error {
	if b.isClosing() {
		b.m.publishErrors.WithLabelValues(broker.ErrorKind(broker.ErrClosed)).Add(float64(len(msgs)))
		return fmt.Errorf("jetstream: publish to %s: %w", exchange, broker.ErrClosed)
	}
	if len(msgs) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		b.m.publishErrors.WithLabelValues(broker.ErrorKind(err)).Add(float64(len(msgs)))
		return fmt.Errorf("jetstream: publish to %s: %w", exchange, err)
	}
	if !b.nc.IsConnected() && b.cfg.PublishRetryFor > 0 {
		// On a cluster the client moves to another node within a second.
		b.awaitConnected(ctx, b.cfg.PublishRetryFor)
	}
	if !b.nc.IsConnected() {
		b.m.publishErrors.WithLabelValues(broker.ErrorKind(broker.ErrUnavailable)).Add(float64(len(msgs)))
		return fmt.Errorf("jetstream: publish to %s: %w: not connected (%s)", exchange, broker.ErrUnavailable, b.nc.Status())
	}
	failed := map[int]error{}
	var out []outMsg
	for i, msg := range msgs {
		rs := routes(i)
		if len(rs) == 0 {
			failed[i] = fmt.Errorf("exchange %q, routing key %q: %w", exchange, msg.RoutingKey, broker.ErrUnroutable)
			b.m.publishErrors.WithLabelValues("unroutable").Inc()
			continue
		}
		var cid string
		if msg.ID != "" {
			cid = contentID(exchange, msg)
		}
		for _, q := range rs {
			n := b.names.byQueue[q]
			h := make(nats.Header, len(msg.Headers)+5)
			for k, v := range msg.Headers {
				h[k] = []string{v}
			}
			h[headerExchange] = []string{exchange}
			h[headerRoutingKey] = []string{msg.RoutingKey}
			if msg.ContentType != "" {
				h[headerContentType] = []string{msg.ContentType}
			}
			if msg.ID != "" {
				h[headerMessageID] = []string{msg.ID}
				// Derived from what the message holds, one per copy: a
				// publisher's retry of the same message is de-duplicated,
				// the copies for other queues are not, and two different
				// messages that share a client-chosen id both land.
				h[natsMsgID] = []string{cid + "|" + n.durable}
			}
			m := &nats.Msg{Subject: n.subject, Header: h, Data: msg.Body}
			if size := msgBytes(m); size > b.payloadLimit() {
				// The server would refuse it whatever happens: permanent,
				// never retried, named with the limit.
				failed[i] = fault.Permanent(fmt.Errorf("jetstream: message of %d bytes (body %d) exceeds the server's max payload of %d bytes", size, len(msg.Body), b.payloadLimit()))
				b.m.publishErrors.WithLabelValues("too_large").Inc()
				break
			}
			out = append(out, outMsg{idx: i, msg: m})
		}
	}
	if len(failed) == len(msgs) {
		if len(msgs) == 1 {
			return fmt.Errorf("jetstream: publish: %w", failed[0])
		}
		return &broker.PublishError{Failed: failed}
	}
	if len(failed) > 0 {
		// A message with a copy that cannot be sent is not sent at all.
		kept := out[:0]
		for _, o := range out {
			if _, bad := failed[o.idx]; !bad {
				kept = append(kept, o)
			}
		}
		out = kept
	}

	first := time.Now()
	errs := b.publishRaw(ctx, out)
	if b.cfg.PublishRetryFor > 0 {
		errs = b.retryUnavailable(ctx, out, errs, first.Add(b.cfg.PublishRetryFor))
	}
	for k, err := range errs {
		if err != nil {
			if _, seen := failed[out[k].idx]; !seen {
				failed[out[k].idx] = err
				b.m.publishErrors.WithLabelValues(broker.ErrorKind(err)).Inc()
			}
		}
	}
	last := -1
	for _, o := range out {
		if _, bad := failed[o.idx]; bad || o.idx == last {
			continue
		}
		last = o.idx
		b.m.published.WithLabelValues(exchange).Inc()
		b.m.publishedBytes.WithLabelValues(exchange).Add(float64(len(msgs[o.idx].Body)))
	}
	if len(failed) > 0 {
		return &broker.PublishError{Failed: failed}
	}
	return nil
}

// awaitConnected waits up to d for the connection to come back.
func (b *Broker) awaitConnected(ctx context.Context, d time.Duration) {
	deadline := time.Now().Add(d)
	for !b.nc.IsConnected() && time.Now().Before(deadline) {
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-b.closing:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// retryUnavailable sends again, with backoff, the messages of out whose
// publish failed for want of a leader (broker.ErrUnavailable), until they
// are acknowledged, deadline (cfg.PublishRetryFor after the first try) has
// passed, or ctx or the broker ends. errs (one per message of out) is
// updated in place.
func (b *Broker) retryUnavailable(ctx context.Context, out []outMsg, errs []error, deadline time.Time) []error {
	for attempt := 0; ; attempt++ {
		var again []int
		for k, err := range errs {
			if err != nil && errors.Is(err, broker.ErrUnavailable) && !errors.Is(err, broker.ErrClosed) {
				again = append(again, k)
			}
		}
		if len(again) == 0 {
			return errs
		}
		wait := min(200*time.Millisecond<<min(attempt, 3), time.Second)
		if time.Until(deadline) < wait {
			for _, k := range again {
				errs[k] = fmt.Errorf("jetstream: no leader acknowledged within %v: %w", b.cfg.PublishRetryFor, errs[k])
			}
			return errs
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return errs
		case <-b.closing:
			t.Stop()
			return errs
		case <-t.C:
		}
		b.m.publishRetries.Add(float64(len(again)))
		sub := make([]outMsg, len(again))
		for i, k := range again {
			sub[i] = out[k]
		}
		for i, err := range b.publishRaw(ctx, sub) {
			errs[again[i]] = err
		}
	}
}

// contentID is the de-duplication id of a message: a hash of its id,
// exchange, routing key and body.
func contentID(exchange string, msg broker.Message) string {
	h := sha256.New()
	for _, s := range []string{msg.ID, exchange, msg.RoutingKey} {
		var n [binary.MaxVarintLen64]byte
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	h.Write(msg.Body)
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// msgBytes is what the server counts against its max payload: the encoded
// headers and the body.
func msgBytes(m *nats.Msg) int {
	n := len(m.Data)
	if len(m.Header) > 0 {
		n += len("NATS/1.0\r\n\r\n")
		for k, vs := range m.Header {
			for _, v := range vs {
				n += len(k) + len(v) + 4 // "k: v\r\n"
			}
		}
	}
	return n
}

type outMsg struct {
	idx int // index of the caller's message
	msg *nats.Msg
}

// publishRaw publishes every message asynchronously and waits for all
// acknowledgements, bounded by ctx and the publish timeout. The result
// holds one error (or nil) per message, each wrapping a broker error.
func (b *Broker) publishRaw(ctx context.Context, out []outMsg) []error {
	errs := make([]error, len(out))
	futures := make([]jetstream.PubAckFuture, len(out))
	for k, o := range out {
		f, err := b.js.PublishMsgAsync(o.msg, jetstream.WithExpectStream(b.names.bySubject[o.msg.Subject]))
		if err != nil {
			errs[k] = classify(err)
			if errors.Is(errs[k], broker.ErrUnavailable) || errors.Is(errs[k], broker.ErrOverloaded) ||
				errors.Is(errs[k], broker.ErrClosed) {
				// The connection is gone or the window is full: the rest
				// would fail the same way (after a stall each).
				for r := k + 1; r < len(out); r++ {
					errs[r] = errs[k]
				}
				break
			}
			continue
		}
		futures[k] = f
	}
	timer := time.NewTimer(b.cfg.PublishTimeout)
	defer timer.Stop()
	var stop error // set once waiting is abandoned
	for k, f := range futures {
		if f == nil {
			continue
		}
		if stop != nil {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				errs[k] = classify(err)
			default:
				errs[k] = stop
			}
			continue
		}
		select {
		case ack := <-f.Ok():
			if ack != nil && ack.Duplicate {
				// The id is derived from the content, so the stream
				// holds this very message already.
				b.m.duplicates.Inc()
			}
		case err := <-f.Err():
			errs[k] = classify(err)
		case <-ctx.Done():
			stop = fmt.Errorf("jetstream: waiting for the publish ack: %w", ctx.Err())
			errs[k] = stop
		case <-timer.C:
			stop = fmt.Errorf("jetstream: no publish ack in %v: %w", b.cfg.PublishTimeout, broker.ErrUnavailable)
			errs[k] = stop
		case <-b.closing:
			stop = fmt.Errorf("jetstream: publish: %w", broker.ErrClosed)
			errs[k] = stop
		}
	}
	return errs
}

// classify wraps a publish error with the broker error it means.
func classify(err error) error {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, jetstream.ErrTooManyStalledMsgs):
		return fmt.Errorf("jetstream: too many publishes in flight: %w", broker.ErrOverloaded)
	case errors.As(err, &apiErr):
		d := strings.ToLower(apiErr.Description)
		switch {
		case apiErr.ErrorCode == jsErrInsufficientResources, apiErr.ErrorCode == jsErrTooManyRequests,
			strings.Contains(d, "maximum bytes"), strings.Contains(d, "maximum messages"):
			return fmt.Errorf("jetstream: stream full: %w: %w", broker.ErrOverloaded, err)
		case apiErr.Code >= 500:
			return fmt.Errorf("jetstream: %w: %w", broker.ErrUnavailable, err)
		}
		return fmt.Errorf("jetstream: %w", err)
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionDraining):
		return fmt.Errorf("jetstream: %w: %w", broker.ErrClosed, err)
	case errors.Is(err, nats.ErrDisconnected), errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, jetstream.ErrAsyncPublishTimeout),
		errors.Is(err, nats.ErrTimeout), errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("jetstream: %w: %w", broker.ErrUnavailable, err)
	}
	return fmt.Errorf("jetstream: publish: %w", err)
}

// jsErrInsufficientResources is the server's error code for "insufficient
// resources" (the account or server store is full).
const jsErrInsufficientResources = 10023

// jsErrTooManyRequests is the server's error code for a publish it did not
// queue because the stream's buffer of publishes waiting to be stored was
// full (Config.StreamBufferedBytes).
const jsErrTooManyRequests = 10167
