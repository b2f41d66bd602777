package clickhouse

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/schema/schematest"
	"github.com/event-grpc/event-grpc/internal/sink"
	"github.com/event-grpc/event-grpc/internal/sink/sinktest"
)

// The rows of eight writers go into one insert once MaxRows wait; a row
// the server refuses fails for its own writer alone, by its own index,
// while every other row commits.
func TestCoalescerOneInsertForManyWriters(t *testing.T) {
	ctx := context.Background()
	s, db := newSink(t)
	reg := prometheus.NewRegistry()
	c, err := sink.NewCoalescer(s, sink.CoalesceConfig{MaxRows: 400, Interval: time.Hour, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	tbl := sinktest.AllTypes(schema.Analytics)
	sinktest.Migrate(t, c, tbl)
	all := sinktest.AllTypesRows(t, tbl, 400, time.Now().UTC().Truncate(time.Second))
	bad := make([]schematest.Row, 50)
	copy(bad, all[150:200])
	bad[3] = append(schematest.Row(nil), bad[3]...)
	bad[3][tbl.Index("at")] = time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)
	fates := make([]error, 8)
	var wg sync.WaitGroup
	for w := range 8 {
		rows := all[w*50 : (w+1)*50]
		if w == 3 {
			rows = bad
		}
		b := sinktest.Batch(t, tbl, rows)
		wg.Add(1)
		c.Submit(b, func(err error) { fates[w] = err; wg.Done() })
	}
	wg.Wait()
	for w, err := range fates {
		if w == 3 {
			p, ok := fault.AsPartial(err)
			if !ok || len(p.Failed) != 1 || p.Failed[3] == nil || !fault.IsPermanent(p.Failed[3]) {
				t.Fatalf("writer 3: fate %v, want its row 3 alone failed permanently", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("writer %d: %v", w, err)
		}
	}
	if n := testutil.ToFloat64(c.Metrics().WithLabelValues("all_types", "rows")); n != 1 {
		t.Fatalf("inserts closed by rows = %v, want 1 (one insert for 400 rows of 8 writers)", n)
	}
	var stored uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM "+schema.Qualify(db, tbl.Name)+" FINAL").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != 399 {
		t.Fatalf("stored %d rows, want 399", stored)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// Rows that wait for more are inserted Interval after the first arrived,
// and a Flush inserts them at once.
func TestCoalescerIntervalAndFlush(t *testing.T) {
	ctx := context.Background()
	s, _ := newSink(t)
	c, err := sink.NewCoalescer(s, sink.CoalesceConfig{MaxRows: 1 << 20, Interval: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	tbl := sinktest.AllTypes(schema.Analytics)
	sinktest.Migrate(t, c, tbl)
	rows := sinktest.AllTypesRows(t, tbl, 20, time.Now().UTC().Truncate(time.Second))
	fate := make(chan error, 1)
	c.Submit(sinktest.Batch(t, tbl, rows[:10]), func(err error) { fate <- err })
	select {
	case err := <-fate:
		t.Fatalf("inserted before the interval ended (fate %v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	inserted := func(within time.Duration, late string) {
		t.Helper()
		select {
		case err := <-fate:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(within):
			t.Fatal(late)
		}
	}
	inserted(5*time.Second, "not inserted after its interval")
	c.Submit(sinktest.Batch(t, tbl, rows[10:]), func(err error) { fate <- err })
	c.Flush()
	inserted(200*time.Millisecond, "Flush did not insert at once")
}
