package auth

import (
	"strings"
	"testing"

	"github.com/event-grpc/event-grpc/internal/telemetry/telemetrytest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// /metrics names no client id unless METRICS_CLIENT_LABELS asks: by
// default every authenticated request counts under client="all".
func TestMetricsNameNoClientByDefault(t *testing.T) {
	for _, named := range []bool{false, true} {
		reg := prometheus.NewRegistry()
		_, err := New(Config{Mode: ModeAPIKey, Keys: map[string]string{"acme-secret-client": "k-0123456789abcdef0123"}, ClientLabels: named}, reg, nil)
		if err != nil {
			t.Fatal(err)
		}
		out, err := testutil.GatherAndCount(reg, "eventgrpc_auth_successes_total")
		if err != nil || out != 1 {
			t.Fatalf("successes series: %d, %v; want 1", out, err)
		}
		if has := strings.Contains(telemetrytest.Text(t, reg), "acme-secret-client"); has != named {
			t.Fatalf("ClientLabels=%v: client id on /metrics = %v", named, has)
		}
	}
}
