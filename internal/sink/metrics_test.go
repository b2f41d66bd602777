package sink

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/schema/schematest"
)

// answering is a sink whose every Write returns err.
type answering struct {
	memSink
	err error
}

func (a *answering) Write(ctx context.Context, b *schema.Batch) error {
	if a.err != nil {
		return a.err
	}
	return a.memSink.Write(ctx, b)
}

func (a *answering) Name() string { return "test" }

func tenRows(t *testing.T) *schema.Batch {
	t.Helper()
	tbl := &schema.Table{Name: "events", Store: schema.Analytics, Columns: []schema.Column{{Name: "n", Type: "Int64"}}}
	rows := make([]schematest.Row, 10)
	for i := range rows {
		rows[i] = schematest.Row{int64(i)}
	}
	b, err := schematest.BatchOf(tbl, rows)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestObserverCountsEachWriteOnce(t *testing.T) {
	tests := []struct {
		name                     string
		err                      error
		stored, failed           float64
		transient, perm, throttl float64
	}{
		{"committed", nil, 10, 0, 0, 0, 0},
		{"some rows refused", &fault.Partial{Failed: map[int]error{2: errors.New("x"), 7: errors.New("y")}}, 8, 2, 0, 0, 0},
		{"transient: the batch is held", errors.New("connection reset"), 0, 0, 1, 0, 0},
		{"throttled: the batch is held", fault.Throttled(errors.New("too many parts"), time.Second), 0, 0, 0, 0, 1},
		{"permanent", fault.Permanentf("bad"), 0, 0, 0, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := NewObserver(prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			s := o.Of(&answering{err: tc.err})
			if got := s.Write(context.Background(), tenRows(t)); !errors.Is(got, tc.err) && got != tc.err {
				t.Fatalf("Write = %v, want the sink's answer %v", got, tc.err)
			}
			for what, c := range map[string]struct{ got, want float64 }{
				"stored":    {testutil.ToFloat64(o.rows.WithLabelValues("test", "events")), tc.stored},
				"failed":    {testutil.ToFloat64(o.failed.WithLabelValues("test", "events")), tc.failed},
				"transient": {testutil.ToFloat64(o.errs.WithLabelValues("test", "events", fault.KindTransient.String())), tc.transient},
				"throttled": {testutil.ToFloat64(o.errs.WithLabelValues("test", "events", fault.KindThrottled.String())), tc.throttl},
				"permanent": {testutil.ToFloat64(o.errs.WithLabelValues("test", "events", fault.KindPermanent.String())), tc.perm},
			} {
				if c.got != c.want {
					t.Errorf("%s = %v, want %v", what, c.got, c.want)
				}
			}
			if n := testutil.CollectAndCount(o.seconds); n != 1 {
				t.Errorf("%d write seconds series, want 1", n)
			}
		})
	}
}

// A coalescing sink observed stays a Submitter and a Flusher (consumers
// pipeline through it), and each Submit is counted when its done runs.
func TestObserverKeepsSubmitter(t *testing.T) {
	o, err := NewObserver(nil)
	if err != nil {
		t.Fatal(err)
	}
	inner := &answering{}
	c, err := NewCoalescer(inner, CoalesceConfig{MaxRows: 10, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	s := o.Of(c)
	if o.Of(c) != s {
		t.Fatal("one sink observed twice is two sinks")
	}
	sub, ok := s.(Submitter)
	if !ok {
		t.Fatal("an observed Submitter is no Submitter")
	}
	if _, ok := s.(Flusher); !ok {
		t.Fatal("an observed Coalescer is no Flusher")
	}
	if _, ok := o.Of(inner).(Submitter); ok {
		t.Fatal("an observed plain sink claims to be a Submitter")
	}
	done := make(chan error, 1)
	sub.Submit(tenRows(t), func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(o.rows.WithLabelValues("test", "events")); got != 10 {
		t.Fatalf("rows stored %v, want 10", got)
	}
}

func TestObserverRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := NewObserver(reg)
	if err != nil {
		t.Fatal(err)
	}
	again, err := NewObserver(reg)
	if err != nil {
		t.Fatalf("a second observer on one registry: %v", err)
	}
	if again.rows != a.rows || again.seconds != a.seconds {
		t.Fatal("a second observer on one registry does not share the collectors")
	}
	m1, err := NewMetrics(reg, "clickhouse")
	if err != nil {
		t.Fatal(err)
	}
	m2, err := NewMetrics(reg, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	m1.Splits.WithLabelValues("t").Inc()
	m2.Splits.WithLabelValues("t").Inc()
	if n := testutil.CollectAndCount(reg, "eventgrpc_sink_batch_splits_total"); n != 2 {
		t.Fatalf("%d splits series, want one per sink", n)
	}
	// A collector of another shape under one of the names is an error.
	clash := prometheus.NewRegistry()
	clash.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "eventgrpc_sink_rows_stored_total", Help: "x"}))
	if _, err := NewObserver(clash); err == nil {
		t.Fatal("a clashing registration went unreported")
	}
}
