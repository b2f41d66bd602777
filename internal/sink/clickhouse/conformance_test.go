package clickhouse

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/schema/schematest"
	"github.com/event-grpc/event-grpc/internal/sink"
	"github.com/event-grpc/event-grpc/internal/sink/sinktest"
)

func TestConformance(t *testing.T) {
	sinktest.Run(t, harness("127.0.0.1:9000"))
}

// harness is the conformance harness against the server at addr; mod
// adjusts each sink's configuration (a cluster's addresses and name).
func harness(addr string, mod ...func(*Config)) sinktest.Harness {
	dbs := map[sink.Sink]string{}
	return sinktest.Harness{
		Table: func() *schema.Table { return sinktest.AllTypes(schema.Analytics) },
		New: func(t *testing.T) sink.Sink {
			s, db := newSink(t, mod...)
			dbs[s] = db
			return s
		},
		ReadBack: func(t *testing.T, ss sink.Sink, tbl *schema.Table) []schematest.Row {
			return readAllTypes(t, ss.(*Sink), dbs[ss], tbl)
		},
		// A time before 1970: DateTime (UInt32 seconds) cannot hold it.
		Spoil: func(tbl *schema.Table, r schematest.Row) {
			r[tbl.Index("at")] = time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)
		},
		Gone: func(t *testing.T) (sink.Sink, func()) {
			return sinktest.BehindCutProxy(t, addr, sinktest.AllTypes(schema.Analytics), func(port int) sink.Sink {
				s, db := newSink(t, append(mod, func(c *Config) { c.Addrs, c.Port = nil, port })...)
				dbs[s] = db
				return s
			})
		},
	}
}

// readAllTypes reads back the rows of an AllTypes table in database db,
// ordered by id, as the values Write took.
func readAllTypes(t *testing.T, s *Sink, db string, tbl *schema.Table) []schematest.Row {
	t.Helper()
	rows, err := s.conn.Query(context.Background(), fmt.Sprintf("SELECT id, kind, n32, n64, f, ok, at, day, doc, tags FROM %s FINAL ORDER BY id", schema.Qualify(db, tbl.Name)))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	return sinktest.ScanAllTypes[uint8, []string](t, rows)
}

// TestConformanceCoalesced runs the suite through the writer the service
// lands with: one per table, gathering the rows of every caller.
func TestConformanceCoalesced(t *testing.T) {
	h := harness("127.0.0.1:9000")
	wrap := func(t *testing.T, s sink.Sink) sink.Sink {
		c, err := sink.NewCoalescer(s, sink.CoalesceConfig{Interval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close(context.Background()) })
		return c
	}
	newSink, readBack, gone := h.New, h.ReadBack, h.Gone
	h.New = func(t *testing.T) sink.Sink { return wrap(t, newSink(t)) }
	h.ReadBack = func(t *testing.T, s sink.Sink, tbl *schema.Table) []schematest.Row {
		return readBack(t, s.(*sink.Coalescer).Inner(), tbl)
	}
	h.Gone = func(t *testing.T) (sink.Sink, func()) {
		s, back := gone(t)
		return wrap(t, s), back
	}
	sinktest.Run(t, h)
}
