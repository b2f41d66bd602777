package sink

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/event-grpc/event-grpc/internal/fault"
)

func TestMetricsObserveWrite(t *testing.T) {
	tests := []struct {
		name            string
		rows            int
		err             error
		written, failed float64
		transient, perm float64
	}{
		{"committed", 10, nil, 10, 0, 0, 0},
		{"some rows refused", 10, &fault.Partial{Failed: map[int]error{2: errors.New("x"), 7: errors.New("y")}}, 8, 2, 0, 0},
		{"transient", 10, errors.New("connection reset"), 0, 0, 1, 0},
		{"permanent", 10, fault.Permanentf("bad"), 0, 0, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m, err := NewMetrics(reg, "test")
			if err != nil {
				t.Fatal(err)
			}
			m.ObserveWrite("events", tc.rows, time.Millisecond, tc.err)
			for what, c := range map[string]struct {
				got, want float64
			}{
				"written":   {testutil.ToFloat64(m.RowsWritten.WithLabelValues("events")), tc.written},
				"failed":    {testutil.ToFloat64(m.RowsFailed.WithLabelValues("events")), tc.failed},
				"transient": {testutil.ToFloat64(m.WriteErrors.WithLabelValues("events", fault.KindTransient.String())), tc.transient},
				"permanent": {testutil.ToFloat64(m.WriteErrors.WithLabelValues("events", fault.KindPermanent.String())), tc.perm},
			} {
				if c.got != c.want {
					t.Errorf("%s = %v, want %v", what, c.got, c.want)
				}
			}
			if n := testutil.CollectAndCount(m.Duration); n != 1 {
				t.Errorf("%d duration series, want 1", n)
			}
		})
	}
}

func TestMetricsRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := NewMetrics(reg, "clickhouse")
	if err != nil {
		t.Fatal(err)
	}
	again, err := NewMetrics(reg, "clickhouse")
	if err != nil {
		t.Fatalf("second sink of one name: %v", err)
	}
	if again.RowsWritten != a.RowsWritten || again.Duration != a.Duration {
		t.Fatal("a second sink of one name does not share the collectors")
	}
	other, err := NewMetrics(reg, "postgres")
	if err != nil {
		t.Fatalf("a sink of another name: %v", err)
	}
	a.RowsWritten.WithLabelValues("t").Add(2)
	other.RowsWritten.WithLabelValues("t").Add(3)
	if n := testutil.CollectAndCount(reg, "eventgrpc_sink_rows_written_total"); n != 2 {
		t.Fatalf("%d series, want one per sink", n)
	}
	if _, err := NewMetrics(nil, "x"); err != nil {
		t.Fatalf("nil registerer: %v", err)
	}
	// A collector of another shape under one of the names is an error.
	clash := prometheus.NewRegistry()
	clash.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "eventgrpc_sink_rows_written_total", Help: "x"}))
	if _, err := NewMetrics(clash, "clickhouse"); err == nil {
		t.Fatal("a clashing registration went unreported")
	}
}
