package clickhouse

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics counts what the sink wrote and refused, per table.
type metrics struct {
	rowsWritten *prometheus.CounterVec
	rowsFailed  *prometheus.CounterVec
	writeErrors *prometheus.CounterVec
	splits      *prometheus.CounterVec
	duration    *prometheus.HistogramVec
}

// newMetrics registers the sink's metrics on reg (nil: unregistered). A
// second sink of the same kind on one registry shares the collectors.
func newMetrics(reg prometheus.Registerer, sinkName string) (*metrics, error) {
	labels := prometheus.Labels{"sink": sinkName}
	m := &metrics{
		rowsWritten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventgrpc_sink_rows_written_total", Help: "Rows a sink committed.", ConstLabels: labels,
		}, []string{"table"}),
		rowsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventgrpc_sink_rows_failed_total", Help: "Rows a sink refused permanently for their data.", ConstLabels: labels,
		}, []string{"table"}),
		writeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventgrpc_sink_write_errors_total", Help: "Writes that failed as a whole, by error class.", ConstLabels: labels,
		}, []string{"table", "kind"}),
		splits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventgrpc_sink_batch_splits_total", Help: "Partial writes made to isolate rows a database refused.", ConstLabels: labels,
		}, []string{"table"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "eventgrpc_sink_write_seconds", Help: "Time a sink took to write one batch.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"table"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.rowsWritten, err = register(reg, m.rowsWritten); err != nil {
		return nil, err
	}
	if m.rowsFailed, err = register(reg, m.rowsFailed); err != nil {
		return nil, err
	}
	if m.writeErrors, err = register(reg, m.writeErrors); err != nil {
		return nil, err
	}
	if m.splits, err = register(reg, m.splits); err != nil {
		return nil, err
	}
	if m.duration, err = register(reg, m.duration); err != nil {
		return nil, err
	}
	return m, nil
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
