package telemetrytest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestValueAndLookup(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c_total"}, []string{"sink", "table"})
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "g"})
	reg.MustRegister(c, g)
	c.WithLabelValues("duckdb", "a").Add(2)
	c.WithLabelValues("duckdb", "b").Add(3)
	c.WithLabelValues("postgres", "a").Add(5)
	g.Set(7)
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
		found  bool
	}{
		{"c_total", []string{"sink", "duckdb", "table", "a"}, 2, true},
		{"c_total", []string{"sink", "duckdb"}, 5, true},
		{"c_total", nil, 10, true},
		{"c_total", []string{"sink", "clickhouse"}, 0, false},
		{"g", nil, 7, true},
		{"absent", nil, 0, false},
	} {
		got, found := Lookup(t, reg, tc.name, tc.labels...)
		if got != tc.want || found != tc.found {
			t.Errorf("Lookup(%s, %q) = %v, %v; want %v, %v", tc.name, tc.labels, got, found, tc.want, tc.found)
		}
		if v := Value(t, reg, tc.name, tc.labels...); v != tc.want {
			t.Errorf("Value(%s, %q) = %v, want %v", tc.name, tc.labels, v, tc.want)
		}
	}
}
