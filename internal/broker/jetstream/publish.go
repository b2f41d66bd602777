package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/event-grpc/event-grpc/internal/broker"
)

// Publish routes each message by the topology (the exchange's bindings
// decide which queues it reaches, as RabbitMQ would), stores one copy per
// queue, and returns once the stream acknowledged every copy. A message
// that reaches no queue fails with broker.ErrUnroutable; a message counts
// as accepted only when all its copies were.
func (b *Broker) Publish(ctx context.Context, exchange string, msgs []broker.Message) error {
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
	if !b.nc.IsConnected() {
		b.m.publishErrors.WithLabelValues(broker.ErrorKind(broker.ErrUnavailable)).Add(float64(len(msgs)))
		return fmt.Errorf("jetstream: publish to %s: %w: not connected (%s)", exchange, broker.ErrUnavailable, b.nc.Status())
	}
	failed := map[int]error{}
	var out []outMsg
	for i, msg := range msgs {
		routes := b.top.Routes(exchange, msg.RoutingKey)
		if len(routes) == 0 {
			failed[i] = fmt.Errorf("exchange %q, routing key %q: %w", exchange, msg.RoutingKey, broker.ErrUnroutable)
			continue
		}
		for _, q := range routes {
			n := b.names.byQueue[q]
			h := make(nats.Header, len(msg.Headers)+4)
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
				// One id per copy, so the copies do not de-duplicate
				// each other but a publisher's retry does.
				h[natsMsgID] = []string{msg.ID + "|" + n.durable}
			}
			out = append(out, outMsg{idx: i, msg: &nats.Msg{Subject: n.subject, Header: h, Data: msg.Body}})
		}
	}
	if len(failed) == len(msgs) {
		b.m.publishErrors.WithLabelValues("unroutable").Add(float64(len(msgs)))
		if len(msgs) == 1 {
			return fmt.Errorf("jetstream: publish: %w", failed[0])
		}
		return &broker.PublishError{Failed: failed}
	}
	b.m.publishErrors.WithLabelValues("unroutable").Add(float64(len(failed)))

	errs := b.publishRaw(ctx, out)
	for k, err := range errs {
		if err != nil {
			if _, seen := failed[out[k].idx]; !seen {
				failed[out[k].idx] = err
				b.m.publishErrors.WithLabelValues(broker.ErrorKind(err)).Inc()
			}
		}
	}
	counted := map[int]bool{}
	for _, o := range out {
		if _, bad := failed[o.idx]; bad || counted[o.idx] {
			continue
		}
		counted[o.idx] = true
		b.m.published.WithLabelValues(exchange).Inc()
		b.m.publishedBytes.WithLabelValues(exchange).Add(float64(len(msgs[o.idx].Body)))
	}
	if len(failed) > 0 {
		return &broker.PublishError{Failed: failed}
	}
	return nil
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
		f, err := b.js.PublishMsgAsync(o.msg, jetstream.WithExpectStream(b.cfg.Stream))
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
		case <-f.Ok():
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
		case apiErr.ErrorCode == jsErrInsufficientResources,
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
