package duckdb

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
	sinktest.Run(t, sinktest.Harness{
		Table: func() *schema.Table { return sinktest.AllTypes(schema.Analytics) },
		New:   func(t *testing.T) sink.Sink { return open(t) },
		ReadBack: func(t *testing.T, s sink.Sink, tbl *schema.Table) []schematest.Row {
			return readAllTypes(t, s.(*Sink), tbl)
		},
		// DuckDB text must be valid UTF-8.
		Spoil: func(tbl *schema.Table, r schematest.Row) { r[tbl.Index("kind")] = "bad\xff\xfe" },
		// The single writer held by someone else: a Write gives up within
		// its ctx (transient), and is taken when the writer is free.
		Gone: func(t *testing.T) (sink.Sink, func()) {
			s := open(t)
			sinktest.Migrate(t, s, sinktest.AllTypes(schema.Analytics))
			if err := s.lock(context.Background()); err != nil {
				t.Fatal(err)
			}
			return s, s.unlock
		},
	})
}

// readAllTypes reads back the rows of an AllTypes table, ordered by id, as
// the values Write took.
func readAllTypes(t *testing.T, s *Sink, tbl *schema.Table) []schematest.Row {
	t.Helper()
	rows, err := s.db.QueryContext(context.Background(), fmt.Sprintf(`SELECT id, kind, n32, n64, f, ok, "at", "day", doc, tags FROM %s ORDER BY id`, schema.QuoteIdent(tbl.Name)))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	return sinktest.ScanAllTypes[bool, []any](t, rows)
}
