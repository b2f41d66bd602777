package sink

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/telemetry"
)

// Defaults of CoalesceConfig.
const (
	DefaultCoalesceRows     = 50_000
	DefaultCoalesceBytes    = 32 << 20
	DefaultCoalesceInterval = time.Second
)

// ErrCoalescerClosed is the transient error of rows handed to a closed
// Coalescer.
var ErrCoalescerClosed = errors.New("sink: coalescer closed")

// CoalesceConfig bounds the rows a Coalescer gathers for one table before
// it inserts them.
type CoalesceConfig struct {
	// MaxRows: insert once this many rows wait (default 50,000).
	MaxRows int
	// MaxBytes: insert once the waiting rows' values take about this many
	// bytes (schema.Batch.Bytes; default 32 MiB).
	MaxBytes int
	// Interval: insert at most this long after the first waiting row
	// arrived (default 1 s).
	Interval time.Duration
	// Registerer receives eventgrpc_sink_coalesced_inserts_total (nil:
	// none).
	Registerer prometheus.Registerer
}

func (c CoalesceConfig) withDefaults() CoalesceConfig {
	if c.MaxRows <= 0 {
		c.MaxRows = DefaultCoalesceRows
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultCoalesceBytes
	}
	if c.Interval <= 0 {
		c.Interval = DefaultCoalesceInterval
	}
	return c
}

// Submitter is the optional capability of a sink that gathers the rows of
// many writers into large writes: Submit hands b's rows over and returns
// at once; done is called once, from another goroutine, with what Write
// would have returned for b (a *fault.Partial indexes b's rows). b must
// stay unchanged until done is called. done must not block.
type Submitter interface {
	Submit(b *schema.Batch, done func(error))
}

// Flusher is the optional capability of a sink that holds rows back:
// Flush asks it to write what it holds now, FlushTable what it holds of
// one table, without waiting for it.
type Flusher interface {
	Flush()
	FlushTable(t *schema.Table)
}

// Coalescer is a Sink that gathers the rows written to each table, by
// every caller, into one writer per table: one insert of the inner sink
// holds up to MaxRows rows (or MaxBytes), or what arrived within Interval
// of the first waiting row, whichever comes first. While one insert runs,
// the next one gathers; a caller that finds the next one full waits, so
// at most twice the bounds are held per table. Each caller learns the
// fate of its own rows only, after the insert that holds them ended:
// nil once committed, a *fault.Partial naming its rows that failed, or
// the insert's permanent or transient error — so acks after commit and
// per-message retry and dead-letter work as with the inner sink. Safe for
// concurrent use.
type Coalescer struct {
	inner Sink
	cfg   CoalesceConfig

	mu       sync.Mutex
	tables   map[*schema.Table]*tableWriter
	closed   bool
	draining atomic.Bool
	wg       sync.WaitGroup

	inserts *prometheus.CounterVec // table, reason
}

var (
	_ Sink      = (*Coalescer)(nil)
	_ Submitter = (*Coalescer)(nil)
	_ Flusher   = (*Coalescer)(nil)
	_ Querier   = (*Coalescer)(nil)
)

// NewCoalescer returns a coalescer writing through inner. It fails only
// when its metric cannot be registered.
func NewCoalescer(inner Sink, cfg CoalesceConfig) (*Coalescer, error) {
	cfg = cfg.withDefaults()
	c := &Coalescer{inner: inner, cfg: cfg, tables: map[*schema.Table]*tableWriter{},
		inserts: telemetry.NewCounterVec("eventgrpc_sink_coalesced_inserts_total", "Inserts of rows gathered from every consumer of a table, by table and what closed them: rows, bytes, interval or flush (memory pressure or shutdown).", "table", "reason"),
	}
	if err := telemetry.Register(cfg.Registerer, &c.inserts); err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	return c, nil
}

// Inner is the sink the coalescer writes through.
func (c *Coalescer) Inner() Sink { return c.inner }

// Migrate implements Sink.
func (c *Coalescer) Migrate(ctx context.Context, tables []*schema.Table) error {
	return c.inner.Migrate(ctx, tables)
}

// Query implements Querier when the inner sink does.
func (c *Coalescer) Query(ctx context.Context, sql string, maxRows int) ([]string, [][]string, error) {
	q, ok := c.inner.(Querier)
	if !ok {
		return nil, nil, fault.Permanentf("sink: %T answers no queries", c.inner)
	}
	return q.Query(ctx, sql, maxRows)
}

// Write implements Sink: b's rows go into the table's next insert, and
// Write returns once that insert ended. It waits for the insert even when
// ctx ends (b is in it; it asks for the insert to start at once): the
// inner sink's own write timeout bounds it.
func (c *Coalescer) Write(ctx context.Context, b *schema.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	done := make(chan error, 1)
	deadline, _ := ctx.Deadline()
	c.submit(b, deadline, func(err error) { done <- err })
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		c.Flush()
		return <-done
	}
}

// Submit implements Submitter.
func (c *Coalescer) Submit(b *schema.Batch, done func(error)) {
	c.submit(b, time.Time{}, done)
}

// submit hands b over; a deadline, when not zero, bounds the insert that
// will hold b's rows.
func (c *Coalescer) submit(b *schema.Batch, deadline time.Time, done func(error)) {
	if b.Len() == 0 {
		done(nil)
		return
	}
	w := c.writer(b.Table)
	if w == nil {
		done(fmt.Errorf("write %s: %w", b.Table.Name, ErrCoalescerClosed))
		return
	}
	w.add(b, deadline, done)
}

// Flush implements Flusher: every table's waiting rows are inserted now.
func (c *Coalescer) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.tables {
		w.flush()
	}
}

// FlushTable asks t's writer to insert what it holds now (a consumer
// waits for it), without waiting for the insert.
func (c *Coalescer) FlushTable(t *schema.Table) {
	c.mu.Lock()
	w := c.tables[t]
	c.mu.Unlock()
	if w != nil {
		w.flush()
	}
}

// Drain makes every insert from now on start as soon as its rows arrive
// (for shutdown: the last batches land without waiting for Interval).
func (c *Coalescer) Drain() {
	c.draining.Store(true)
	c.Flush()
}

// Close inserts what waits, stops the writers (within ctx) and closes the
// inner sink. Rows submitted afterwards fail transiently. Safe twice.
func (c *Coalescer) Close(ctx context.Context) error {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		c.draining.Store(true)
		for _, w := range c.tables {
			w.stop()
		}
	}
	c.mu.Unlock()
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	var errs []error
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("sink: coalescer: last inserts: %w", ctx.Err()))
	}
	errs = append(errs, c.inner.Close(ctx))
	return errors.Join(errs...)
}

// writer returns t's writer, starting it on first use; nil once closed.
func (c *Coalescer) writer(t *schema.Table) *tableWriter {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	w := c.tables[t]
	if w == nil {
		w = &tableWriter{c: c, t: t, pending: schema.NewBatch(t), spare: schema.NewBatch(t), kick: make(chan struct{}, 1)}
		w.room = sync.NewCond(&w.mu)
		c.tables[t] = w
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			w.run()
		}()
	}
	return w
}

// contribution is one caller's rows [lo, hi) of an insert.
type contribution struct {
	lo, hi   int
	deadline time.Time // zero: none
	done     func(error)
}

// tableWriter gathers one table's rows and inserts them, one insert at a
// time.
type tableWriter struct {
	c *Coalescer
	t *schema.Table

	mu       sync.Mutex
	room     *sync.Cond // signalled when pending is taken
	pending  *schema.Batch
	spare    *schema.Batch
	parts    []contribution
	bytes    int
	first    time.Time // when pending's first rows arrived
	now      bool      // flush asked for
	stopping bool

	kick chan struct{} // cap 1: look at pending again
}

func (w *tableWriter) full() bool {
	return w.pending.Len() >= w.c.cfg.MaxRows || w.bytes >= w.c.cfg.MaxBytes
}

func (w *tableWriter) signal() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *tableWriter) add(b *schema.Batch, deadline time.Time, done func(error)) {
	size := b.Bytes()
	w.mu.Lock()
	for w.pending.Len() > 0 && w.full() && !w.stopping {
		w.room.Wait()
	}
	if w.stopping {
		w.mu.Unlock()
		done(fmt.Errorf("write %s: %w", w.t.Name, ErrCoalescerClosed))
		return
	}
	if w.pending.Len() == 0 {
		w.first = time.Now()
	}
	lo := w.pending.Len()
	w.pending.AppendBatch(b)
	w.parts = append(w.parts, contribution{lo: lo, hi: w.pending.Len(), deadline: deadline, done: done})
	w.bytes += size
	first := lo == 0
	full := w.full()
	w.mu.Unlock()
	if first || full || w.c.draining.Load() {
		w.signal()
	}
}

func (w *tableWriter) flush() {
	w.mu.Lock()
	w.now = true
	w.mu.Unlock()
	w.signal()
}

func (w *tableWriter) stop() {
	w.mu.Lock()
	w.stopping = true
	w.room.Broadcast()
	w.mu.Unlock()
	w.signal()
}

// run inserts pending rows when a bound is reached, Interval after they
// began to gather, or when asked, until stopped with nothing pending.
func (w *tableWriter) run() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		w.mu.Lock()
		n, stopping := w.pending.Len(), w.stopping
		var reason string
		switch {
		case n == 0:
		case w.pending.Len() >= w.c.cfg.MaxRows:
			reason = "rows"
		case w.bytes >= w.c.cfg.MaxBytes:
			reason = "bytes"
		case w.now || stopping || w.c.draining.Load():
			reason = "flush"
		case time.Since(w.first) >= w.c.cfg.Interval:
			reason = "interval"
		}
		wait := w.c.cfg.Interval - time.Since(w.first)
		if reason == "" {
			w.mu.Unlock()
			if n == 0 && stopping {
				return
			}
			if n > 0 {
				timer.Reset(wait)
			}
			select {
			case <-w.kick:
			case <-timer.C:
			}
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
			continue
		}
		b, parts := w.pending, w.parts
		w.pending, w.spare, w.parts, w.bytes, w.now = w.spare, nil, nil, 0, false
		w.room.Broadcast()
		w.mu.Unlock()

		w.c.inserts.WithLabelValues(w.t.Name, reason).Inc()
		ctx, cancel := context.Background(), context.CancelFunc(func() {})
		if d := earliest(parts); !d.IsZero() {
			ctx, cancel = context.WithDeadline(ctx, d)
		}
		err := w.write(ctx, b)
		cancel()
		settle(err, parts)
		b.Reset() // after settle: the callers' batches are theirs again
		w.mu.Lock()
		w.spare = b
		w.mu.Unlock()
	}
}

// write is the inner sink's Write; a panic in it becomes the insert's
// transient error (the batches are held and handed again), as it would in
// a consumer writing for itself, instead of ending the process.
func (w *tableWriter) write(ctx context.Context, b *schema.Batch) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("write %s: the sink panicked: %v", w.t.Name, v)
		}
	}()
	return w.c.inner.Write(ctx, b)
}

// earliest is the earliest deadline of parts (zero: none has one).
func earliest(parts []contribution) time.Time {
	var d time.Time
	for _, p := range parts {
		if !p.deadline.IsZero() && (d.IsZero() || p.deadline.Before(d)) {
			d = p.deadline
		}
	}
	return d
}

// settle tells each contribution the fate of its rows.
func settle(err error, parts []contribution) {
	p, partial := fault.AsPartial(err)
	if !partial {
		for _, c := range parts {
			c.done(err)
		}
		return
	}
	mine := make([]map[int]error, len(parts))
	for r, cause := range p.Failed {
		k := sort.Search(len(parts), func(k int) bool { return parts[k].hi > r })
		if k == len(parts) || r < parts[k].lo {
			continue // not a row of this insert: nobody's
		}
		if mine[k] == nil {
			mine[k] = map[int]error{}
		}
		mine[k][r-parts[k].lo] = cause
	}
	for k, c := range parts {
		c.done(fault.NewPartial(mine[k]))
	}
}

// Name is the inner sink's name (for metric labels).
func (c *Coalescer) Name() string {
	if n, ok := c.inner.(interface{ Name() string }); ok {
		return n.Name()
	}
	return "coalescer"
}

// Metrics is eventgrpc_sink_coalesced_inserts_total (table, reason).
func (c *Coalescer) Metrics() *prometheus.CounterVec { return c.inserts }
