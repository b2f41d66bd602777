package landing

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/sink"
	"github.com/event-grpc/event-grpc/internal/telemetry/telemetrytest"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// A write through the observed sink, as the service wires it, is counted
// once: rows by the sink decorator, messages by the handler, and a held
// batch neither as rows nor as a message outcome.
func TestWritesCountedOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	obs, err := sink.NewObserver(reg)
	if err != nil {
		t.Fatal(err)
	}
	s, cat := store(t)
	q, _ := topology.Default().Queue("trace_log")
	h, err := New(q, cat, func(*schema.Table) sink.Sink { return obs.Of(s) }, nil, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	good := `{"id":"req-1","trace_id":"t-1","service_name":"identity","host_name":"id-1","method":"GET","uri":"/v1/me","status_code":200,"time_taken_ms":12,"timestamp":"2026-11-27T09:30:00Z"}`
	batch := []broker.Delivery{{Queue: "trace_log", Body: []byte(good)}, {Queue: "trace_log", Body: []byte(`{"trace_id":`)}}
	if err := h.Handle(context.Background(), batch); err == nil {
		t.Fatal("the unreadable message did not fail")
	}
	table := []string{"sink", "duckdb", "table", "trace_log"}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"eventgrpc_sink_rows_stored_total", table, 1},
		{"eventgrpc_consume_messages_total", []string{"queue", "trace_log", "outcome", "stored"}, 1},
		{"eventgrpc_consume_messages_total", []string{"queue", "trace_log", "outcome", "failed"}, 1},
	} {
		if got := telemetrytest.Value(t, reg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}

	s.Close(context.Background()) // the store is down: the next batch is held
	if err := h.Handle(context.Background(), batch[:1]); err == nil {
		t.Fatal("a write to a closed store succeeded")
	}
	if got := telemetrytest.Value(t, reg, "eventgrpc_sink_write_errors_total", "sink", "duckdb", "table", "trace_log", "kind", "transient"); got != 1 {
		t.Errorf("transient write errors = %v, want 1", got)
	}
	if got := telemetrytest.Value(t, reg, "eventgrpc_sink_rows_stored_total", table...); got != 1 {
		t.Errorf("rows stored = %v after a held write, want still 1", got)
	}
	if _, found := telemetrytest.Lookup(t, reg, "eventgrpc_consume_messages_total", "outcome", "held"); found {
		t.Error("a held batch counted as a message outcome too (the runner counts it, once)")
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if n := mf.GetName(); strings.HasPrefix(n, "eventgrpc_consume_rows_") || strings.HasPrefix(n, "eventgrpc_consume_write_") {
			t.Errorf("%s: the consumers count writes again", n)
		}
	}
}
