package pipeline

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
)

// coalescer merges the groups of one routing key that arrive within the
// linger into one broker message, so the broker's message rate carries many
// more events. Every contributor waits for the one confirm of the message
// that holds its events.
type coalescer struct {
	pub       broker.Publisher
	exchange  string
	linger    time.Duration
	maxEvents int
	now       func() time.Time
	m         *metrics

	mu      sync.Mutex
	pending map[string]*batch
	flights sync.WaitGroup
}

type batch struct {
	key     string
	parts   []*group
	events  int
	started time.Time
	timer   *time.Timer
	done    chan struct{}
	err     error
}

func newCoalescer(pub broker.Publisher, exchange string, linger time.Duration, maxEvents int, now func() time.Time, m *metrics) *coalescer {
	return &coalescer{pub: pub, exchange: exchange, linger: linger, maxEvents: maxEvents, now: now, m: m, pending: map[string]*batch{}}
}

// add puts g in the pending message of its key and waits for that
// message's confirm (or ctx).
func (c *coalescer) add(ctx context.Context, g *group) error {
	n := len(g.events)
	if c.linger <= 0 || n >= c.maxEvents {
		b := &batch{key: g.key, parts: []*group{g}, events: n, started: c.now(), done: make(chan struct{})}
		c.flights.Add(1)
		c.flush(ctx, b)
		return b.err
	}
	c.mu.Lock()
	b := c.pending[g.key]
	if b != nil && b.events+n > c.maxEvents {
		// Full: send what is pending now and start a new one.
		delete(c.pending, g.key)
		b.timer.Stop()
		c.flights.Add(1)
		go c.flush(context.WithoutCancel(ctx), b)
		b = nil
	}
	if b == nil {
		b = &batch{key: g.key, started: c.now(), done: make(chan struct{})}
		c.pending[g.key] = b
		b.timer = time.AfterFunc(c.linger, func() { c.expire(b) })
	}
	b.parts = append(b.parts, g)
	b.events += n
	c.mu.Unlock()

	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return fault.Transient(ctx.Err())
	}
}

// expire flushes b when its linger ends, unless it was flushed already.
func (c *coalescer) expire(b *batch) {
	c.mu.Lock()
	if c.pending[b.key] != b {
		c.mu.Unlock()
		return
	}
	delete(c.pending, b.key)
	c.flights.Add(1)
	c.mu.Unlock()
	// Waiters' contexts may end; the publish goes on so the confirm is
	// observed and counted either way. The publisher bounds it in time.
	c.flush(context.Background(), b)
}

func (c *coalescer) flush(ctx context.Context, b *batch) {
	defer c.flights.Done()
	defer close(b.done)
	body, err := encode(b.parts)
	if err != nil {
		b.err = fault.Permanent(fmt.Errorf("encode events: %w", err))
		return
	}
	msg := broker.Message{
		ID:          uuid.Must(uuid.NewV7()).String(),
		RoutingKey:  b.key,
		ContentType: ContentType,
		Headers:     map[string]string{broker.HeaderInsertTime: strconv.FormatInt(b.started.UnixMilli(), 10)},
		Body:        body,
	}
	start := time.Now()
	b.err = c.pub.Publish(ctx, c.exchange, []broker.Message{msg})
	c.m.publishSeconds.Observe(time.Since(start).Seconds())
	if b.err != nil {
		c.m.publishErrors.WithLabelValues(broker.ErrorKind(b.err)).Inc()
		b.err = classifyPublish(b.err)
		return
	}
	c.m.messages.Inc()
	c.m.messageEvents.Observe(float64(b.events))
}

// wait blocks until every flush in flight has finished.
func (c *coalescer) wait() {
	c.mu.Lock()
	for k, b := range c.pending {
		delete(c.pending, k)
		if b.timer.Stop() {
			c.flights.Add(1)
			go c.flush(context.Background(), b)
		}
	}
	c.mu.Unlock()
	c.flights.Wait()
}
