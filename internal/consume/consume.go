package consume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/sink"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// Router picks the sink that holds a table.
type Router func(t *schema.Table) sink.Sink

// Decoder turns one delivery into sources, one per row it holds.
type Decoder func(d broker.Delivery) ([]schema.Source, error)

// Metrics are the consume stage's counters, shared by every queue.
type Metrics struct {
	events   *prometheus.CounterVec
	consumed *prometheus.CounterVec
	rows     *prometheus.CounterVec
	failed   *prometheus.CounterVec
	writes   *prometheus.HistogramVec
	held     *prometheus.CounterVec
}

// NewMetrics registers the consume metrics on reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventgrpc_consume_events_total",
			Help: "Events (rows of their source) handled, by queue, type (routing key) and outcome: stored, retried (failed, will be tried again with x-retry-count+1) or dead_lettered.",
		}, []string{"queue", "type", "outcome"}),
		consumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventgrpc_consume_messages_total", Help: "Broker messages handled, by queue and outcome (stored, failed, held).",
		}, []string{"queue", "outcome"}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventgrpc_consume_rows_stored_total", Help: "Rows committed by the consumers, by table.",
		}, []string{"table"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventgrpc_consume_rows_failed_total", Help: "Rows that failed permanently (bad data), by table.",
		}, []string{"table"}),
		writes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "eventgrpc_consume_write_seconds", Help: "Time of one batch write as the consumer sees it (including waiting for the sink), by table.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"table"}),
		held: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventgrpc_consume_write_held_total", Help: "Batch writes that failed transiently (the batch is held and tried again), by table.",
		}, []string{"table"}),
	}
	if reg != nil {
		reg.MustRegister(m.events, m.consumed, m.rows, m.failed, m.writes, m.held)
	}
	return m
}

// Handler writes one queue's deliveries to its tables.
type Handler struct {
	queue      string
	maxRetries int
	tables     []*schema.Table
	sinks      []sink.Sink
	decode     Decoder
	log        *slog.Logger
	m          *Metrics
}

// New builds the handler of q: its decoder by q.Handler, its tables from
// catalog, each table's sink from route.
func New(q topology.Queue, catalog schema.Catalog, route Router, log *slog.Logger, m *Metrics) (*Handler, error) {
	h := &Handler{queue: q.Name, maxRetries: q.MaxRetries, log: log, m: m}
	switch q.Handler {
	case topology.HandlerEvents:
		h.decode = DecodeEvents
	case topology.HandlerJSON:
		h.decode = DecodeJSON
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
		h.tables = append(h.tables, t)
		h.sinks = append(h.sinks, s)
	}
	return h, nil
}

// Handle implements broker.BatchHandler.
func (h *Handler) Handle(ctx context.Context, batch []broker.Delivery) error {
	failed := map[int]error{}
	rows := make([][]schema.Row, len(h.tables))
	owners := make([][]int, len(h.tables)) // row → delivery index
	events := make([]int, len(batch))      // events each delivery holds
	for i, d := range batch {
		srcs, err := h.decode(d)
		if err != nil {
			failed[i] = err
			events[i] = 1
			continue
		}
		events[i] = len(srcs)
		// Map every table's rows of this message first, so a message
		// whose data does not fit one table writes to none.
		var mapped [][]schema.Row
		for _, t := range h.tables {
			var trows []schema.Row
			for _, src := range srcs {
				r, err := t.Map(src)
				if err != nil {
					failed[i] = fault.Permanent(err)
					break
				}
				trows = append(trows, r)
			}
			if failed[i] != nil {
				break
			}
			mapped = append(mapped, trows)
		}
		if failed[i] != nil {
			continue
		}
		for ti := range h.tables {
			rows[ti] = append(rows[ti], mapped[ti]...)
			for range mapped[ti] {
				owners[ti] = append(owners[ti], i)
			}
		}
	}
	for ti, t := range h.tables {
		if len(rows[ti]) == 0 {
			continue
		}
		start := time.Now()
		err := h.sinks[ti].Write(ctx, t, rows[ti])
		h.m.writes.WithLabelValues(t.Name).Observe(time.Since(start).Seconds())
		var be *sink.BatchError
		switch {
		case err == nil:
			h.m.rows.WithLabelValues(t.Name).Add(float64(len(rows[ti])))
		case errors.As(err, &be):
			h.m.rows.WithLabelValues(t.Name).Add(float64(len(rows[ti]) - len(be.Failed)))
			h.m.failed.WithLabelValues(t.Name).Add(float64(len(be.Failed)))
			for r, cause := range be.Failed {
				failed[owners[ti][r]] = fmt.Errorf("table %s: %w", t.Name, cause)
			}
		case fault.IsPermanent(err):
			h.m.failed.WithLabelValues(t.Name).Add(float64(len(rows[ti])))
			for _, i := range owners[ti] {
				failed[i] = fmt.Errorf("table %s: %w", t.Name, err)
			}
		default:
			h.m.held.WithLabelValues(t.Name).Inc()
			h.m.consumed.WithLabelValues(h.queue, "held").Add(float64(len(batch)))
			return fmt.Errorf("write %s: %w", t.Name, err)
		}
	}
	h.m.consumed.WithLabelValues(h.queue, "stored").Add(float64(len(batch) - len(failed)))
	for i, d := range batch {
		outcome := "stored"
		if failed[i] != nil {
			outcome = "retried"
			if d.RetryCount >= h.maxRetries {
				outcome = "dead_lettered"
			}
		}
		h.m.events.WithLabelValues(h.queue, typeLabel(d.RoutingKey), outcome).Add(float64(events[i]))
	}
	if len(failed) > 0 {
		h.m.consumed.WithLabelValues(h.queue, "failed").Add(float64(len(failed)))
		return &broker.FailedMessages{Failed: failed}
	}
	return nil
}

// typeLabel bounds the type label: a CustomEvent's own name is not a label.
func typeLabel(key string) string {
	if strings.HasPrefix(key, "CustomEvent.") {
		return "CustomEvent"
	}
	if key == "" {
		return "unknown"
	}
	return key
}
