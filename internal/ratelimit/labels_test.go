package ratelimit

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/event-grpc/event-grpc/internal/clocktest"
	"github.com/event-grpc/event-grpc/internal/telemetry/telemetrytest"
)

// /metrics names no client unless METRICS_CLIENT_LABELS asks: by default a
// listed client's refusals count under "all", and no series carries its id.
func TestMetricsNameNoClientByDefault(t *testing.T) {
	for _, named := range []bool{false, true} {
		reg := prometheus.NewRegistry()
		clk := clocktest.New(time.Unix(1_750_000_000, 0))
		l, err := New(Config{PerClient: map[string]Limit{"acme-secret-client": {RPS: 1, Burst: 1}}, ClientLabels: named}, reg, clk.Now)
		if err != nil {
			t.Fatal(err)
		}
		k := Key{AuthID: "acme-secret-client", IP: "192.0.2.1"}
		l.Take(k)
		if d := l.Take(k); d.OK {
			t.Fatal("second request within the burst of 1 was allowed")
		}
		text := telemetrytest.Text(t, reg)
		if has := strings.Contains(text, "acme-secret-client"); has != named {
			t.Fatalf("ClientLabels=%v: client id on /metrics = %v:\n%s", named, has, text)
		}
		label := "all"
		if named {
			label = "acme-secret-client"
		}
		if got := testutil.ToFloat64(l.m.refused.WithLabelValues(label)); got != 1 {
			t.Fatalf("ClientLabels=%v: refused{client=%q} = %v, want 1", named, label, got)
		}
	}
}
