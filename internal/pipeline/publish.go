package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/event"
	"github.com/event-grpc/event-grpc/internal/fault"
)

// coalescer packs the chunks of concurrent requests that share a
// destination into one broker message, bounded in events and bytes, so the
// broker's message rate carries many more events. Every contributor waits
// for the one confirm of the message that holds its events.
//
// No timer or goroutine per message: the worker that opens a message (its
// leader) publishes it when the linger ends, unless another worker found it
// full first and published it then. A worker publishes everything it
// flushes in one Publish call, so a request's fan-out is one call however
// many destinations it has.
type coalescer struct {
	pub       broker.Publisher
	router    broker.QueueRouter // nil: destinations are routing keys
	exchange  string
	linger    time.Duration
	maxEvents int
	maxBytes  func() int // the largest message body (Pipeline.messageLimit)
	now       func() time.Time
	m         *metrics

	mu      sync.Mutex
	pending map[string]*batch // destination → the open message
}

// batch is one broker message being filled.
type batch struct {
	dest    string
	key     string // routing key; "" when its chunks' keys differ
	parts   []part
	events  int
	bytes   int // body bytes
	started time.Time
	done    chan struct{} // closed once err is set
	err     error
}

type part struct {
	r *request
	c *chunk
}

func newCoalescer(pub broker.Publisher, exchange string, linger time.Duration, maxEvents int, maxBytes func() int, now func() time.Time, m *metrics) *coalescer {
	c := &coalescer{pub: pub, exchange: exchange, linger: linger, maxEvents: maxEvents, maxBytes: maxBytes, now: now, m: m, pending: map[string]*batch{}}
	if qr, ok := pub.(broker.QueueRouter); ok && qr.Packs(exchange) {
		c.router = qr
	}
	return c
}

// send puts r's chunks into messages, publishes those this worker must,
// and waits until every message holding r's events has its outcome; then
// it records each event's failure, if any, in r.failed.
func (c *coalescer) send(r *request) {
	var ready, led []*batch
	now := c.now()
	maxBytes := c.maxBytes()
	c.mu.Lock()
	for k := range r.chunks {
		ch := &r.chunks[k]
		size := ch.bytes + sizeVarint(ch.bytes)
		var b *batch
		if c.linger > 0 {
			b = c.pending[ch.dest]
			if b != nil && (b.events+ch.events > c.maxEvents || b.bytes+size > maxBytes) {
				delete(c.pending, ch.dest)
				ready = append(ready, b)
				b = nil
			}
		}
		if b == nil {
			b = &batch{dest: ch.dest, key: ch.key, started: now, done: make(chan struct{})}
			if c.linger > 0 {
				c.pending[ch.dest] = b
				led = append(led, b)
			} else {
				ready = append(ready, b)
			}
		}
		if b.key != ch.key {
			b.key = ""
		}
		b.parts = append(b.parts, part{r: r, c: ch})
		b.events += ch.events
		b.bytes += size
		ch.batch = b
		if c.linger > 0 && (b.events >= c.maxEvents || b.bytes >= maxBytes) {
			delete(c.pending, ch.dest)
			ready = append(ready, b)
		}
	}
	c.mu.Unlock()
	if len(ready) > 0 {
		c.flush(ready)
	}
	if len(led) > 0 {
		if d := c.linger - c.now().Sub(now); d > 0 {
			t := time.NewTimer(d)
			<-t.C
		}
		ready = ready[:0]
		c.mu.Lock()
		for _, b := range led {
			if c.pending[b.dest] == b {
				delete(c.pending, b.dest)
				ready = append(ready, b)
			}
		}
		c.mu.Unlock()
		if len(ready) > 0 {
			c.flush(ready)
		}
	}
	for k := range r.chunks {
		ch := &r.chunks[k]
		<-ch.batch.done
		if err := ch.batch.err; err != nil {
			for _, i := range ch.idx {
				if r.failed[i] == nil {
					r.failed[i] = err
				}
			}
		}
	}
}

func sizeVarint(n int) int {
	s := 1
	for n >= 0x80 {
		n >>= 7
		s++
	}
	return s
}

// flush publishes bs in one call and settles each. Waiters' contexts may
// end meanwhile; the publish goes on so the confirm is observed and counted
// either way (the publisher bounds it in time).
func (c *coalescer) flush(bs []*batch) {
	msgs := make([]broker.Message, len(bs))
	var queues []string
	if c.router != nil {
		queues = make([]string, len(bs))
	}
	for k, b := range bs {
		body := make([]byte, 0, b.bytes)
		for _, p := range b.parts {
			body = p.r.appendPart(body, p.c)
		}
		msgs[k] = broker.Message{
			ID:          uuid.Must(uuid.NewV7()).String(),
			RoutingKey:  b.key,
			ContentType: event.ContentType,
			Headers:     map[string]string{broker.HeaderInsertTime: strconv.FormatInt(b.started.UnixMilli(), 10)},
			Body:        body,
		}
		if queues != nil {
			queues[k] = b.dest
		}
	}
	ctx := context.Background()
	start := time.Now()
	var err error
	if c.router != nil {
		err = c.router.PublishToQueues(ctx, c.exchange, queues, msgs)
	} else {
		err = c.pub.Publish(ctx, c.exchange, msgs)
	}
	c.m.publishSeconds.Observe(time.Since(start).Seconds())
	var pe *broker.PublishError
	if err != nil && !errors.As(err, &pe) {
		c.m.publishErrors.WithLabelValues(broker.ErrorKind(err)).Add(float64(len(bs)))
	}
	ok := 0
	for k, b := range bs {
		switch {
		case pe != nil && pe.Failed[k] != nil:
			c.m.publishErrors.WithLabelValues(broker.ErrorKind(pe.Failed[k])).Inc()
			b.err = classifyPublish(pe.Failed[k])
		case pe == nil && err != nil:
			b.err = classifyPublish(err)
		default:
			ok++
			c.m.messageEvents.Observe(float64(b.events))
		}
		close(b.done)
	}
	c.m.messages.Add(float64(ok))
}

// classifyPublish maps broker errors to fault classes: overload is
// throttled, an unroutable message is permanent (a topology problem), the
// rest transient.
func classifyPublish(err error) error {
	switch {
	case errors.Is(err, broker.ErrOverloaded):
		return fault.Throttled(err, 0)
	case errors.Is(err, broker.ErrUnroutable):
		return fault.Permanent(err)
	case fault.KindOf(err) != fault.KindTransient:
		return err
	}
	return fault.Transient(err)
}

// publishCode is the wire code of an event whose message failed.
func publishCode(err error) eventgrpcv1.ResultCode {
	switch {
	case fault.IsThrottled(err):
		return eventgrpcv1.ResultCode_RESULT_CODE_RESOURCE_EXHAUSTED
	case fault.IsPermanent(err):
		return eventgrpcv1.ResultCode_RESULT_CODE_INTERNAL
	}
	return eventgrpcv1.ResultCode_RESULT_CODE_UNAVAILABLE
}

// publishReason is what the client reads for an event whose message failed.
func publishReason(err error) string {
	switch {
	case fault.IsThrottled(err):
		return "RESOURCE_EXHAUSTED: " + err.Error()
	case fault.IsPermanent(err):
		return "INTERNAL: " + err.Error()
	}
	return "UNAVAILABLE: " + err.Error()
}

// routeCache remembers the queues of each routing key (the topology's
// matching is not free); bounded, beyond it keys are resolved each time.
type routeCache struct {
	router   broker.QueueRouter
	exchange string
	mu       sync.RWMutex
	m        map[string][]string
}

const maxCachedRoutes = 16 << 10

func (rc *routeCache) queues(key string) []string {
	rc.mu.RLock()
	q, ok := rc.m[key]
	rc.mu.RUnlock()
	if ok {
		return q
	}
	q = rc.router.Queues(rc.exchange, key)
	rc.mu.Lock()
	if len(rc.m) < maxCachedRoutes {
		rc.m[key] = q
	}
	rc.mu.Unlock()
	return q
}

// errNoRoute is the failure of events whose key reaches no queue.
func errNoRoute(exchange, key string) error {
	return fault.Permanent(fmt.Errorf("exchange %q, routing key %q: %w", exchange, key, broker.ErrUnroutable))
}
