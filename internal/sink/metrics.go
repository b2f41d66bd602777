package sink

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/telemetry"
)

// Metrics are what a sink counts inside its own Write: the partial writes
// it made to isolate rows a database refused. What a Write stored, failed
// and took is counted once, outside, by the decorator (Observer). Every
// series carries the constant label sink (the backend's name). Safe for
// concurrent use.
type Metrics struct {
	Splits *prometheus.CounterVec // eventgrpc_sink_batch_splits_total{table}
}

// NewMetrics registers the metrics of the sink named sinkName on reg (nil:
// unregistered), as telemetry.Register does: a second sink of the same name
// on one registry shares the collectors.
func NewMetrics(reg prometheus.Registerer, sinkName string) (*Metrics, error) {
	m := &Metrics{
		Splits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventgrpc_sink_batch_splits_total", Help: "Partial writes made to isolate rows a database refused.",
			ConstLabels: prometheus.Labels{"sink": sinkName},
		}, []string{"table"}),
	}
	if err := telemetry.Register(reg, &m.Splits); err != nil {
		return nil, fmt.Errorf("sink %s: %w", sinkName, err)
	}
	return m, nil
}

// Isolate is Isolate with SplitBudget, counting each partial write it
// makes in Splits, under b's table.
func (m *Metrics) Isolate(ctx context.Context, b *schema.Batch, write func(context.Context, *schema.Batch) error) error {
	return Isolate(ctx, b, func(ctx context.Context, part *schema.Batch) error {
		if part.Len() < b.Len() {
			m.Splits.WithLabelValues(b.Table.Name).Inc()
		}
		return write(ctx, part)
	}, SplitBudget)
}

// Observer is the metrics decorator of sinks: the sink Of returns counts
// and times each Write (and each Submit, until its done), by sink and
// table, once for every caller. It is applied where the sinks are built
// (internal/app), so neither the sinks nor their callers count writes.
//
//	eventgrpc_sink_rows_stored_total{sink,table}   rows committed
//	eventgrpc_sink_rows_failed_total{sink,table}   rows refused permanently for their data
//	eventgrpc_sink_write_errors_total{sink,table,kind}
//	                                               writes that failed as a whole, by class
//	                                               (fault.KindOf: transient and throttled
//	                                               writes hold their batch; permanent ones fail it)
//	eventgrpc_sink_write_seconds{sink,table}       time of one write as the caller sees it
//	                                               (for a coalescing sink, with the gathering)
//
// Safe for concurrent use.
type Observer struct {
	rows, failed, errs *prometheus.CounterVec
	seconds            *prometheus.HistogramVec

	mu sync.Mutex
	of map[Sink]Sink
}

// NewObserver registers the decorator's metrics on reg (nil: unregistered),
// as telemetry.Register does.
func NewObserver(reg prometheus.Registerer) (*Observer, error) {
	o := &Observer{
		rows:    telemetry.NewCounterVec("eventgrpc_sink_rows_stored_total", "Rows committed by a sink, by sink and table.", "sink", "table"),
		failed:  telemetry.NewCounterVec("eventgrpc_sink_rows_failed_total", "Rows a sink refused permanently for their data (retried or dead-lettered with their message), by sink and table.", "sink", "table"),
		errs:    telemetry.NewCounterVec("eventgrpc_sink_write_errors_total", "Writes that failed as a whole, by sink, table and error class (transient and throttled: the batch is held and tried again; permanent: its messages are retried or dead-lettered).", "sink", "table", "kind"),
		seconds: telemetry.NewHistogramVec("eventgrpc_sink_write_seconds", "Time of one batch write as the consumer sees it (for a coalescing sink, with the gathering), by sink and table.", prometheus.ExponentialBuckets(0.001, 2, 16), "sink", "table"),
		of:      map[Sink]Sink{},
	}
	if err := errors.Join(
		telemetry.Register(reg, &o.rows, &o.failed, &o.errs),
		telemetry.Register(reg, &o.seconds),
	); err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	return o, nil
}

// Of returns s observed, labelled with s's Name() (else "other"): the same
// decorated sink for the same s, so that callers keyed by sink (a byte
// budget per sink) see one sink. The decorated sink is a Submitter and a
// Flusher when s is a Submitter. A nil Observer or sink returns s.
func (o *Observer) Of(s Sink) Sink {
	if o == nil || s == nil {
		return s
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if d, ok := o.of[s]; ok {
		return d
	}
	name := "other"
	if n, ok := s.(interface{ Name() string }); ok {
		name = n.Name()
	}
	d := Sink(&observed{Sink: s, name: name, o: o})
	if sub, ok := s.(Submitter); ok {
		d = &observedSubmitter{observed: d.(*observed), sub: sub}
	}
	o.of[s] = d
	return d
}

// observe counts one write of rows rows to table that took took and ended
// with err: nil counts every row stored; a *fault.Partial its failed rows
// failed and the others stored; any other error one write error of its
// class and no rows.
func (o *Observer) observe(name, table string, rows int, took time.Duration, err error) {
	o.seconds.WithLabelValues(name, table).Observe(took.Seconds())
	failed := 0
	if err != nil {
		p, ok := fault.AsPartial(err)
		if !ok {
			o.errs.WithLabelValues(name, table, fault.KindOf(err).String()).Inc()
			return
		}
		failed = len(p.Failed)
	}
	o.rows.WithLabelValues(name, table).Add(float64(rows - failed))
	o.failed.WithLabelValues(name, table).Add(float64(failed))
}

// observed is a Sink whose writes are counted.
type observed struct {
	Sink
	name string
	o    *Observer
}

// Name is the observed sink's name.
func (s *observed) Name() string { return s.name }

// Write implements Sink.
func (s *observed) Write(ctx context.Context, b *schema.Batch) error {
	table, rows, start := b.Table.Name, b.Len(), time.Now()
	err := s.Sink.Write(ctx, b)
	s.o.observe(s.name, table, rows, time.Since(start), err)
	return err
}

// observedSubmitter is an observed Submitter: a Submit is counted when its
// done is called.
type observedSubmitter struct {
	*observed
	sub Submitter
}

// Submit implements Submitter.
func (s *observedSubmitter) Submit(b *schema.Batch, done func(error)) {
	table, rows, start := b.Table.Name, b.Len(), time.Now()
	s.sub.Submit(b, func(err error) {
		s.o.observe(s.name, table, rows, time.Since(start), err)
		done(err)
	})
}

// Flush implements Flusher (nothing when the inner sink holds nothing back).
func (s *observedSubmitter) Flush() {
	if f, ok := s.Sink.(Flusher); ok {
		f.Flush()
	}
}

// FlushTable implements Flusher.
func (s *observedSubmitter) FlushTable(t *schema.Table) {
	if f, ok := s.Sink.(Flusher); ok {
		f.FlushTable(t)
	}
}
