package telemetry

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRegister(t *testing.T) {
	vec := func() *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eventgrpc_test_things_total", Help: "Things."}, []string{"kind"})
	}
	t.Run("nil registry leaves the collector working", func(t *testing.T) {
		c := vec()
		if err := Register(nil, &c); err != nil {
			t.Fatal(err)
		}
		c.WithLabelValues("a").Inc()
		if got := testutil.ToFloat64(c.WithLabelValues("a")); got != 1 {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("a second instance shares the first one's series", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		a, b := vec(), vec()
		if err := Register(reg, &a); err != nil {
			t.Fatal(err)
		}
		if err := Register(reg, &b); err != nil {
			t.Fatalf("second registration: %v", err)
		}
		if a != b {
			t.Fatal("the second collector was not replaced by the registered one")
		}
		a.WithLabelValues("x").Inc()
		b.WithLabelValues("x").Inc()
		if got := testutil.ToFloat64(a.WithLabelValues("x")); got != 2 {
			t.Fatalf("shared counter %v, want 2", got)
		}
	})
	t.Run("another shape under the name is an error naming it", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "eventgrpc_test_things_total", Help: "Things."})
		if err := Register(reg, &g); err != nil {
			t.Fatal(err)
		}
		c, other := vec(), prometheus.NewCounter(prometheus.CounterOpts{Name: "eventgrpc_test_other_total", Help: "Other."})
		err := Register(reg, &c)
		if err == nil || !strings.Contains(err.Error(), "eventgrpc_test_things_total") {
			t.Fatalf("err = %v, want one naming the metric", err)
		}
		// Every collector is tried: the ones after a refusal are registered.
		var cs = []prometheus.Collector{vec(), other}
		if err := Register(reg, &cs[0], &cs[1]); err == nil {
			t.Fatal("the clash went unreported")
		}
		if n := testutil.CollectAndCount(reg, "eventgrpc_test_other_total"); n != 1 {
			t.Fatalf("the collector after the refused one was not registered (%d series)", n)
		}
	})
}
