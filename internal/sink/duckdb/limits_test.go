package duckdb

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/sink"
	"github.com/event-grpc/event-grpc/internal/sink/sinktest"
	"github.com/event-grpc/event-grpc/internal/telemetry/telemetrytest"
)

var base = time.Date(2024, 6, 10, 8, 30, 15, 0, time.UTC)

func TestWriteTimeoutHonoured(t *testing.T) {
	s, tbl := openWith(t, Config{WriteTimeout: 200 * time.Millisecond}), sinktest.AllTypes(schema.Analytics)
	sinktest.Migrate(t, s, tbl)
	if err := s.lock(context.Background()); err != nil { // the writer is busy
		t.Fatal(err)
	}
	start := time.Now()
	err := s.Write(context.Background(), sinktest.Batch(t, tbl, sinktest.AllTypesRows(t, tbl, 3, base)))
	took := time.Since(start)
	s.unlock()
	if !errors.Is(err, context.DeadlineExceeded) || fault.IsPermanent(err) {
		t.Fatalf("err = %v, want a transient deadline error", err)
	}
	if took < 150*time.Millisecond || took > 2*time.Second {
		t.Fatalf("gave up after %v, want about the 200ms WriteTimeout", took)
	}
}

func TestCtxHonoured(t *testing.T) {
	s, ctx, tbl := open(t), context.Background(), sinktest.AllTypes(schema.Analytics)
	sinktest.Migrate(t, s, tbl)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	err := s.Write(cctx, sinktest.Batch(t, tbl, sinktest.AllTypesRows(t, tbl, 3000, base)))
	if err == nil || fault.IsPermanent(err) {
		t.Fatalf("err = %v, want a transient error", err)
	}
	if got := count(t, s, "SELECT count(*) FROM all_types"); got != "0" {
		t.Fatalf("%s rows written under a cancelled ctx", got)
	}
}

// The sink counts its partial writes; the decorator it is written through
// (sink.Observer, as the service applies it) counts the rows stored and
// failed, once.
func TestMetricsCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := New(context.Background(), Config{Path: filepath.Join(t.TempDir(), "t.duckdb"), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	obs, err := sink.NewObserver(reg)
	if err != nil {
		t.Fatal(err)
	}
	w := obs.Of(s)
	if obs.Of(s) != w {
		t.Fatal("one sink observed twice is two sinks")
	}
	tbl := sinktest.AllTypes(schema.Analytics)
	if err := w.Migrate(context.Background(), []*schema.Table{tbl}); err != nil {
		t.Fatal(err)
	}
	rows := sinktest.AllTypesRows(t, tbl, 10, base)
	rows[4][tbl.Index("kind")] = "bad\xff"
	err = w.Write(context.Background(), sinktest.Batch(t, tbl, rows))
	if p, ok := fault.AsPartial(err); !ok || len(p.Failed) != 1 {
		t.Fatalf("err = %v, want row 4 failed", err)
	}
	for name, want := range map[string]float64{
		"eventgrpc_sink_rows_stored_total": 9,
		"eventgrpc_sink_rows_failed_total": 1,
	} {
		if got := telemetrytest.Value(t, reg, name, "sink", "duckdb", "table", "all_types"); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := testutil.ToFloat64(s.m.Splits.WithLabelValues("all_types")); got == 0 {
		t.Error("no partial write counted")
	}
	if n, err := testutil.GatherAndCount(reg, "eventgrpc_sink_write_seconds"); err != nil || n != 1 {
		t.Errorf("write seconds series %d, %v", n, err)
	}
}

func TestMigrateValidatesTables(t *testing.T) {
	s := open(t)
	bad := &schema.Table{Name: "bad name", Store: schema.Analytics, Columns: []schema.Column{{Name: "a", Type: "Nope"}}}
	err := s.Migrate(context.Background(), []*schema.Table{bad})
	if err == nil || !fault.IsPermanent(err) {
		t.Fatalf("Migrate(invalid) = %v, want a permanent error naming the problems", err)
	}
}
