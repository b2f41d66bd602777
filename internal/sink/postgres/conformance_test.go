package postgres

import (
	"context"
	"fmt"
	"testing"

	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/schema/schematest"
	"github.com/event-grpc/event-grpc/internal/sink"
	"github.com/event-grpc/event-grpc/internal/sink/sinktest"
)

func TestConformance(t *testing.T) {
	schemas := map[sink.Sink]string{}
	sinktest.Run(t, sinktest.Harness{
		Table: func() *schema.Table { return sinktest.AllTypes(schema.Transactional, "id") },
		New: func(t *testing.T) sink.Sink {
			s, sch := newSink(t)
			schemas[s] = sch
			return s
		},
		ReadBack: func(t *testing.T, s sink.Sink, tbl *schema.Table) []schematest.Row {
			return readAllTypes(t, s.(*Sink), schemas[s], tbl)
		},
		// PostgreSQL text cannot hold a NUL byte.
		Spoil: func(tbl *schema.Table, r schematest.Row) { r[tbl.Index("kind")] = "nul\x00byte" },
		Gone: func(t *testing.T) (sink.Sink, func()) {
			return sinktest.BehindCutProxy(t, pgAddr, sinktest.AllTypes(schema.Transactional, "id"), func(port int) sink.Sink {
				s, sch := newSink(t, func(c *Config) { c.Port = port })
				schemas[s] = sch
				return s
			})
		},
	})
}

// readAllTypes reads back the rows of an AllTypes table in schema sch,
// ordered by id, as the values Write took (doc as jsonb prints it).
func readAllTypes(t *testing.T, s *Sink, sch string, tbl *schema.Table) []schematest.Row {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), fmt.Sprintf("SELECT id, kind, n32, n64, f, ok, at, day, doc::text, tags FROM %s ORDER BY id", schema.Qualify(sch, tbl.Name)))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	return sinktest.ScanAllTypes[bool, []string](t, rows)
}
