package landing

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/event"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/sink"
	"github.com/event-grpc/event-grpc/internal/telemetry"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// Router picks the sink that holds a table.
type Router func(t *schema.Table) sink.Sink

// Metrics are the consume stage's counters, shared by every queue. What a
// write stored, failed and took is counted by the sink decorator
// (sink.Observer) the handler writes through; a held batch is counted by
// the runner (eventgrpc_consume_batches_held_total), once per hold.
type Metrics struct {
	events   *prometheus.CounterVec
	consumed *prometheus.CounterVec
}

// NewMetrics registers the consume metrics on reg (nil: unregistered), as
// telemetry.Register does.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventgrpc_consume_events_total",
			Help: "Events (rows of their source) handled, by queue, type (the event's own type; the routing key for JSON messages) and outcome: stored, retried (failed, will be tried again with x-retry-count+1) or dead_lettered.",
		}, []string{"queue", "type", "outcome"}),
		consumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventgrpc_consume_messages_total", Help: "Broker messages settled by a table handler, by queue and outcome (stored, failed); a held batch is counted in eventgrpc_consume_batches_held_total.",
		}, []string{"queue", "outcome"}),
	}
	if err := telemetry.Register(reg, &m.events, &m.consumed); err != nil {
		return nil, fmt.Errorf("consume: %w", err)
	}
	return m, nil
}

// Handler writes one queue's deliveries to its tables: decode → map
// (compiled, columnar) → one sink.Write per table → the fate of each
// message (broker.BatchHandler).
type Handler struct {
	queue      string
	maxRetries int
	json       bool
	tables     []*schema.Table
	sinks      []sink.Sink
	events     []*schema.Mapper[*schema.EventRow] // per table, events queues
	objects    []*schema.Mapper[*schema.JSONRow]  // per table, JSON queues
	log        *slog.Logger
	m          *Metrics
	labels     map[string]bool // routing keys that are type labels as they are
	budget     *Budget         // nil: unbounded
	budgets    []*sinkBudget   // of sinks, in acquisition order
	states     freeList        // the states of finished calls, for the next
}

// state is what one Handle call reuses from the last: the batches (their
// column slices) and the bookkeeping.
type state struct {
	batches []*schema.Batch
	owners  [][]int // per table: row → delivery index
	types   []event.Type
	typeAt  []int // per delivery: its events' range in types ends here
	objs    []int // per delivery of a JSON queue: its objects (1 when unreadable)
	jrows   []schema.JSONRow
	counts  [3][event.NumTypes]int
	failed  map[int]error // per Handle call: the messages that failed permanently
	errs    []error       // per table: its write's result (HandleAsync)
}

// New builds the handler of q: its decoder by q.Handler, its tables from
// catalog (their column paths compiled here, once), each table's sink from
// route. A batch is decoded and written only within budget's bytes for
// each of those sinks (nil: unbounded).
func New(q topology.Queue, catalog schema.Catalog, route Router, log *slog.Logger, m *Metrics, budget *Budget) (*Handler, error) {
	if log == nil {
		log = slog.Default()
	}
	h := &Handler{queue: q.Name, maxRetries: q.MaxRetries, log: log, m: m, labels: keyLabels(q)}
	switch q.Handler {
	case topology.HandlerEvents:
	case topology.HandlerJSON:
		h.json = true
	default:
		return nil, fmt.Errorf("queue %s: handler %q is not a table handler", q.Name, q.Handler)
	}
	for _, name := range q.Tables {
		t, ok := catalog.Lookup(name)
		if !ok {
			return nil, fmt.Errorf("queue %s: table %q is not declared", q.Name, name)
		}
		s := route(t)
		if s == nil {
			return nil, fmt.Errorf("queue %s: no sink holds table %s", q.Name, name)
		}
		if h.json {
			mp, err := schema.CompileJSON(t)
			if err != nil {
				return nil, fmt.Errorf("queue %s: %w", q.Name, err)
			}
			h.objects = append(h.objects, mp)
		} else {
			mp, err := schema.CompileEvents(t)
			if err != nil {
				return nil, fmt.Errorf("queue %s: %w", q.Name, err)
			}
			h.events = append(h.events, mp)
		}
		h.tables = append(h.tables, t)
		h.sinks = append(h.sinks, s)
	}
	if budget != nil {
		h.budget, h.budgets = budget, budget.of(h.sinks)
	}
	h.states = freeList{c: make(chan *state, keptStates), new: func() *state {
		st := &state{batches: make([]*schema.Batch, len(h.tables)), owners: make([][]int, len(h.tables))}
		for i, t := range h.tables {
			st.batches[i] = schema.NewBatch(t)
		}
		return st
	}}
	return h, nil
}

// keptStates bounds how many finished states a handler keeps for its next
// calls.
const keptStates = 4

// freeList keeps finished states between calls: at most as many as the
// handler has had in use at once (one for a synchronous consumer, its
// pipeline's depth for one that hands batches on), and never more than
// cap(c). Unlike a sync.Pool, which drops what it holds at every other GC,
// it keeps them however often the GC runs: under a memory budget the GC
// runs often, and a dropped state's column slices are allocated and grown
// again for the next batch, which makes the GC run more often still. A
// state kept beyond what is used at once would only be heap the GC scans
// in every cycle: the column slices of a large batch hold tens of
// thousands of string headers each.
type freeList struct {
	c     chan *state
	new   func() *state
	inUse atomic.Int32
	peak  atomic.Int32
}

func (f *freeList) Get() *state {
	n := f.inUse.Add(1)
	for p := f.peak.Load(); n > p && !f.peak.CompareAndSwap(p, n); p = f.peak.Load() {
	}
	select {
	case st := <-f.c:
		return st
	default:
		return f.new()
	}
}

func (f *freeList) Put(st *state) {
	f.inUse.Add(-1)
	if len(f.c) >= int(f.peak.Load()) {
		return
	}
	select {
	case f.c <- st:
	default:
	}
}

// Outcomes of an event, for the events metric.
const (
	stored = iota
	retried
	deadLettered
)

var outcomeNames = [3]string{"stored", "retried", "dead_lettered"}

// Handle implements broker.BatchHandler: the batch's rows are written
// table after table, and Handle returns their fate.
func (h *Handler) Handle(ctx context.Context, batch []broker.Delivery) error {
	release := h.take(batch)
	defer release()
	st := h.prepare(batch)
	defer h.states.Put(st)
	for ti := range h.tables {
		b := st.batches[ti]
		if b.Len() == 0 {
			continue
		}
		if err := h.record(st, ti, h.sinks[ti].Write(ctx, b)); err != nil {
			return err
		}
	}
	return h.finish(st, batch)
}

// Pipelined reports whether one of the queue's sinks gathers rows from
// many batches (sink.Submitter), so that its consumers should hand on
// batches without waiting for each one's insert (HandleAsync).
func (h *Handler) Pipelined() bool {
	for _, s := range h.sinks {
		if _, ok := s.(sink.Submitter); ok {
			return true
		}
	}
	return false
}

// Stalled asks the sinks that hold this queue's rows back (sink.Flusher)
// to insert them now: a consumer of the queue cannot go on before.
func (h *Handler) Stalled() {
	for ti, s := range h.sinks {
		if f, ok := s.(sink.Flusher); ok {
			f.FlushTable(h.tables[ti])
		}
	}
}

// HandleAsync is Handle for a pipelined consumer (consume.AsyncHandler):
// the rows of each table whose sink is a sink.Submitter are handed over
// and HandleAsync returns without waiting for their insert; the other
// tables are written before it returns. done gets the batch's fate, as
// Handle would return it, once every table's write ended. The batch's
// budget and decoded rows are held until then.
func (h *Handler) HandleAsync(ctx context.Context, batch []broker.Delivery, done func(error)) {
	release := h.take(batch)
	st := h.prepare(batch)
	if cap(st.errs) < len(h.tables) {
		st.errs = make([]error, len(h.tables))
	}
	st.errs = st.errs[:len(h.tables)]
	var left atomic.Int32
	left.Store(1) // this call's own share, given up below
	complete := func() {
		var err error
		for ti := range h.tables {
			if st.batches[ti].Len() == 0 {
				continue
			}
			if err = h.record(st, ti, st.errs[ti]); err != nil {
				break
			}
		}
		if err == nil {
			err = h.finish(st, batch)
		}
		clear(st.errs)
		release()
		h.states.Put(st)
		done(err)
	}
	for ti := range h.tables {
		b := st.batches[ti]
		if b.Len() == 0 {
			continue
		}
		left.Add(1)
		end := func(err error) {
			st.errs[ti] = err
			if left.Add(-1) == 0 {
				complete()
			}
		}
		if s, ok := h.sinks[ti].(sink.Submitter); ok {
			s.Submit(b, end)
		} else {
			end(h.sinks[ti].Write(ctx, b))
		}
	}
	if left.Add(-1) == 0 {
		complete()
	}
}

// take takes the batch's message bytes from the budget of each sink of
// the queue (waiting for them) and returns the function that gives them
// back.
func (h *Handler) take(batch []broker.Delivery) (release func()) {
	if h.budget == nil {
		return func() {}
	}
	var n int64
	for _, d := range batch {
		n += int64(len(d.Body))
	}
	return h.budget.take(h.budgets, n)
}

// prepare decodes the batch and maps its rows into a state's batches, one
// per table; messages that cannot be decoded or mapped are in st.failed.
func (h *Handler) prepare(batch []broker.Delivery) *state {
	st := h.states.Get()
	for ti := range h.tables {
		st.batches[ti].Reset()
		st.owners[ti] = st.owners[ti][:0]
	}
	st.types, st.typeAt, st.objs = st.types[:0], st.typeAt[:0], st.objs[:0]
	st.failed = map[int]error{} // not reused: a FailedMessages error keeps it
	failed := st.failed
	var row schema.EventRow
	for i, d := range batch {
		// Map every table's rows of this message first, so a message
		// whose data does not fit one table writes to none.
		var mark [8]int
		lens := mark[:0]
		for _, b := range st.batches {
			lens = append(lens, b.Len())
		}
		typesAt := len(st.types)
		var err error
		if h.json {
			st.jrows, err = jsonRows(h.queue, d, st.jrows[:0])
			st.objs = append(st.objs, max(1, len(st.jrows)))
			for r := range st.jrows {
				if err != nil {
					break
				}
				for ti, mp := range h.objects {
					if err = mp.Append(st.batches[ti], &st.jrows[r]); err != nil {
						err = fault.Permanent(err)
						break
					}
				}
			}
		} else {
			err = eventRows(d, &row, func(r *schema.EventRow) error {
				st.types = append(st.types, r.Type)
				for ti, mp := range h.events {
					if err := mp.Append(st.batches[ti], r); err != nil {
						return fault.Permanent(fmt.Errorf("event %q: %w", r.Event.GetId(), err))
					}
				}
				return nil
			})
		}
		if err != nil {
			failed[i] = err
			for ti, b := range st.batches {
				b.Truncate(lens[ti])
			}
			st.types = st.types[:typesAt]
			if !h.json {
				st.types = append(st.types, event.TypeNone) // the message counts as one event
			}
		} else {
			for ti, b := range st.batches {
				for range b.Len() - lens[ti] {
					st.owners[ti] = append(st.owners[ti], i)
				}
			}
		}
		st.typeAt = append(st.typeAt, len(st.types))
	}
	return st
}

// record marks the messages whose rows of table ti failed permanently in
// st.failed; it returns the error of a transient failure, which holds the
// whole batch. The write itself was counted by the sink decorator.
func (h *Handler) record(st *state, ti int, err error) error {
	t := h.tables[ti]
	p, partial := fault.AsPartial(err)
	switch {
	case err == nil:
	case partial:
		for r, cause := range p.Failed {
			st.failed[st.owners[ti][r]] = fmt.Errorf("table %s: %w", t.Name, cause)
		}
	case fault.IsPermanent(err):
		for _, i := range st.owners[ti] {
			st.failed[i] = fmt.Errorf("table %s: %w", t.Name, err)
		}
	default:
		return fmt.Errorf("write %s: %w", t.Name, err)
	}
	return nil
}

// finish counts the batch's messages and events by outcome and returns
// its fate: nil, or the messages that failed permanently.
func (h *Handler) finish(st *state, batch []broker.Delivery) error {
	failed := st.failed
	h.m.consumed.WithLabelValues(h.queue, "stored").Add(float64(len(batch) - len(failed)))
	h.countEvents(st, batch, failed)
	if len(failed) > 0 {
		h.m.consumed.WithLabelValues(h.queue, "failed").Add(float64(len(failed)))
		return &broker.FailedMessages{Failed: failed}
	}
	return nil
}

// countEvents counts the batch's events by type and outcome: one counter
// update per (type, outcome) of the batch, not one per event.
func (h *Handler) countEvents(st *state, batch []broker.Delivery, failed map[int]error) {
	outcome := func(i int) int {
		if failed[i] == nil {
			return stored
		}
		if batch[i].RetryCount >= h.maxRetries {
			return deadLettered
		}
		return retried
	}
	if h.json { // JSON messages have no event type: the routing key names them
		for i, d := range batch {
			h.m.events.WithLabelValues(h.queue, typeLabel(h.labels, d.RoutingKey), outcomeNames[outcome(i)]).Add(float64(st.objs[i]))
		}
		return
	}
	st.counts = [3][event.NumTypes]int{}
	from := 0
	for i := range batch {
		o := outcome(i)
		for _, ty := range st.types[from:st.typeAt[i]] {
			st.counts[o][ty]++
		}
		from = st.typeAt[i]
	}
	for o := range st.counts {
		for ty, n := range st.counts[o] {
			if n == 0 {
				continue
			}
			name := event.Type(ty).String()
			if name == "" {
				name = "unknown"
			}
			h.m.events.WithLabelValues(h.queue, name, outcomeNames[o]).Add(float64(n))
		}
	}
}
