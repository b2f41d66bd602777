package sink

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-grpc/event-grpc/internal/fault"
)

// Metrics counts what one sink wrote and refused, per table. Every series
// carries the constant label sink (the backend's name). The collectors are
// safe for concurrent use.
type Metrics struct {
	RowsWritten *prometheus.CounterVec   // eventgrpc_sink_rows_written_total{table}
	RowsFailed  *prometheus.CounterVec   // eventgrpc_sink_rows_failed_total{table}
	WriteErrors *prometheus.CounterVec   // eventgrpc_sink_write_errors_total{table,kind}
	Splits      *prometheus.CounterVec   // eventgrpc_sink_batch_splits_total{table}
	Duration    *prometheus.HistogramVec // eventgrpc_sink_write_seconds{table}
}

// NewMetrics registers the metrics of the sink named sinkName on reg (nil:
// unregistered). A second sink of the same name on one registry shares the
// collectors; any other registration error is returned.
func NewMetrics(reg prometheus.Registerer, sinkName string) (*Metrics, error) {
	labels := prometheus.Labels{"sink": sinkName}
	m := &Metrics{
		RowsWritten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventgrpc_sink_rows_written_total", Help: "Rows a sink committed.", ConstLabels: labels,
		}, []string{"table"}),
		RowsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventgrpc_sink_rows_failed_total", Help: "Rows a sink refused permanently for their data.", ConstLabels: labels,
		}, []string{"table"}),
		WriteErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventgrpc_sink_write_errors_total", Help: "Writes that failed as a whole, by error class.", ConstLabels: labels,
		}, []string{"table", "kind"}),
		Splits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventgrpc_sink_batch_splits_total", Help: "Partial writes made to isolate rows a database refused.", ConstLabels: labels,
		}, []string{"table"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "eventgrpc_sink_write_seconds", Help: "Time a sink took to write one batch.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"table"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.RowsWritten, err = register(reg, m.RowsWritten); err != nil {
		return nil, err
	}
	if m.RowsFailed, err = register(reg, m.RowsFailed); err != nil {
		return nil, err
	}
	if m.WriteErrors, err = register(reg, m.WriteErrors); err != nil {
		return nil, err
	}
	if m.Splits, err = register(reg, m.Splits); err != nil {
		return nil, err
	}
	if m.Duration, err = register(reg, m.Duration); err != nil {
		return nil, err
	}
	return m, nil
}

// ObserveWrite records one Write of rows rows to table that took took and
// returned err: nil counts every row written; a *fault.Partial counts its
// failed rows failed and the others written; any other error counts a
// write error of the error's class (fault.KindOf) and no rows.
func (m *Metrics) ObserveWrite(table string, rows int, took time.Duration, err error) {
	m.Duration.WithLabelValues(table).Observe(took.Seconds())
	failed := 0
	if err != nil {
		p, ok := fault.AsPartial(err)
		if !ok {
			m.WriteErrors.WithLabelValues(table, fault.KindOf(err).String()).Inc()
			return
		}
		failed = len(p.Failed)
	}
	m.RowsWritten.WithLabelValues(table).Add(float64(rows - failed))
	m.RowsFailed.WithLabelValues(table).Add(float64(failed))
}

func register[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}
