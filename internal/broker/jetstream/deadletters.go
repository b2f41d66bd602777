package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/event-grpc/event-grpc/internal/broker"
)

// Peek returns up to limit messages of a queue or error queue, oldest
// first, without taking them from its consumer (it reads the stream by
// subject), and the number of messages the queue holds (waiting plus being
// handled).
func (b *Broker) Peek(ctx context.Context, queue string, limit int) (int, []broker.Delivery, error) {
	if b.isClosing() {
		return 0, nil, fmt.Errorf("jetstream: peek %s: %w", queue, broker.ErrClosed)
	}
	n, ok := b.names.byQueue[queue]
	if !ok {
		return 0, nil, fmt.Errorf("jetstream: peek: %q is not a queue or error queue of the topology", queue)
	}
	// The stream's count, not the consumer's pending numbers: the server
	// updates those asynchronously after a store, so a peek right after a
	// confirmed publish could miss it. The queue's stream holds its subject
	// alone and, under WorkQueue retention, a message until it is acked,
	// so the count is exactly what the queue holds, delivered or not.
	stream, err := b.streamOf(queue)
	if err != nil {
		return 0, nil, fmt.Errorf("jetstream: peek: %w", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("jetstream: peek %s: %w", queue, classifyAPI(err))
	}
	count := int(info.State.Msgs)
	var sample []broker.Delivery
	seq := max(info.State.FirstSeq, 1)
	for len(sample) < limit {
		raw, err := stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(n.subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return count, sample, fmt.Errorf("jetstream: peek %s: %w", queue, classifyAPI(err))
		}
		d := rawDelivery(queue, raw.Header, raw.Data)
		d.Published = raw.Time
		sample = append(sample, d)
		seq = raw.Sequence + 1
	}
	return count, sample, nil
}

// replayChunk is how many dead letters Replay moves per round trip.
const replayChunk = 256

// Replay moves up to limit dead letters of errorQueue back into the queue
// they failed in, with their original exchange and routing key and a retry
// count of 0. Only that queue gets them again: the other queues the
// original publish reached had handled their copies already. Each dead
// letter is acked (removed) only after its copy is stored. A dead letter
// that does not say where it came from is left in place and reported.
//
// A call is bounded (see broker.DeadLetters): at most
// broker.ReplayLimit(limit) messages, and only those stored before the call
// began (by stream sequence), so a replayed message that fails again and is
// back in the error queue during the call is not replayed twice.
func (b *Broker) Replay(ctx context.Context, errorQueue string, limit int) (int, error) {
	limit = broker.ReplayLimit(limit)
	if b.isClosing() {
		return 0, fmt.Errorf("jetstream: replay %s: %w", errorQueue, broker.ErrClosed)
	}
	n, ok := b.names.byQueue[errorQueue]
	if !ok || n.owner == "" {
		return 0, fmt.Errorf("jetstream: replay: %q is not an error queue of the topology", errorQueue)
	}
	owner := b.names.byQueue[n.owner]
	c, err := b.js.Consumer(ctx, n.stream, n.durable)
	if err != nil {
		return 0, fmt.Errorf("jetstream: replay %s: %w", errorQueue, classifyAPI(err))
	}
	stream, err := b.streamOf(errorQueue)
	if err != nil {
		return 0, fmt.Errorf("jetstream: replay: %w", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("jetstream: replay %s: %w", errorQueue, classifyAPI(err))
	}
	lastSeq := info.State.LastSeq // later dead letters are not this call's
	moved, skipped := 0, 0
	for moved+skipped < limit {
		batch, err := c.FetchNoWait(min(replayChunk, limit-moved-skipped))
		if err != nil {
			return moved, fmt.Errorf("jetstream: replay %s: %w", errorQueue, classifyAPI(err))
		}
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if err := batch.Error(); err != nil {
			nakAll(msgs)
			return moved, fmt.Errorf("jetstream: replay %s: %w", errorQueue, classifyAPI(err))
		}
		if len(msgs) == 0 {
			break
		}
		var outs []outMsg
		var keep []jetstream.Msg
		newer := false
		for _, m := range msgs {
			if md, err := m.Metadata(); err == nil && md.Sequence.Stream > lastSeq {
				_ = m.Nak() // stored after the call began: a later call's
				newer = true
				continue
			}
			out, ok := replayMsg(owner, m)
			if !ok {
				// Left unacked: it comes back after the ack wait, not in
				// this Replay.
				skipped++
				continue
			}
			outs = append(outs, out)
			keep = append(keep, m)
		}
		errs := b.publishRaw(ctx, outs)
		var firstErr error
		for k, m := range keep {
			if errs[k] != nil {
				_ = m.Nak()
				if firstErr == nil {
					firstErr = errs[k]
				}
				continue
			}
			if err := m.DoubleAck(ctx); err != nil {
				// The copy is stored; the dead letter stays and may be
				// replayed twice, which the sinks' de-duplication absorbs.
				if firstErr == nil {
					firstErr = fmt.Errorf("ack dead letter: %w", err)
				}
				continue
			}
			moved++
			b.m.replayed.WithLabelValues(n.owner).Inc()
		}
		if firstErr != nil {
			return moved, fmt.Errorf("jetstream: replay %s: %w", errorQueue, firstErr)
		}
		if newer {
			break
		}
	}
	if skipped > 0 {
		return moved, fmt.Errorf("jetstream: replay %s: %d dead letter(s) lack %s/%s headers and were left in place",
			errorQueue, skipped, broker.HeaderOriginalExchange, broker.HeaderOriginalRoutingKey)
	}
	return moved, nil
}

// replayMsg builds the copy of a dead letter that goes back to its queue.
func replayMsg(owner queueNames, m jetstream.Msg) (outMsg, bool) {
	hs := m.Headers()
	exchange, key := hs.Get(broker.HeaderOriginalExchange), hs.Get(broker.HeaderOriginalRoutingKey)
	if exchange == "" {
		return outMsg{}, false
	}
	h := make(nats.Header, len(hs))
	for k, vs := range hs {
		if !internalHeader(k) && len(vs) > 0 {
			h[k] = []string{vs[0]}
		}
	}
	h[broker.HeaderRetryCount] = []string{"0"}
	if id := hs.Get(headerMessageID); id != "" {
		h[headerMessageID] = []string{id}
	}
	h[headerExchange] = []string{exchange}
	h[headerRoutingKey] = []string{key}
	if ct := hs.Get(headerContentType); ct != "" {
		h[headerContentType] = []string{ct}
	}
	if md, err := m.Metadata(); err == nil {
		h[natsMsgID] = []string{"replay|" + owner.durable + "|" + strconv.FormatUint(md.Sequence.Stream, 10)}
	}
	return outMsg{msg: &nats.Msg{Subject: owner.subject, Header: h, Data: m.Data()}}, true
}

// nakAll gives msgs back for immediate redelivery. A lost nak only delays
// the redelivery until the ack wait ends.
func nakAll(msgs []jetstream.Msg) {
	for _, m := range msgs {
		_ = m.Nak()
	}
}

// classifyAPI wraps errors of JetStream API requests: a lost connection or
// an unanswered request is broker.ErrUnavailable.
func classifyAPI(err error) error {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, nats.ErrConnectionClosed):
		return fmt.Errorf("%w: %w", broker.ErrClosed, err)
	case errors.As(err, &apiErr) && apiErr.Code < 500:
		return err
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return fmt.Errorf("%w: %w", broker.ErrUnavailable, err)
}
