package duckdb

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
	sinktest.Run(t, sinktest.Harness{
		Table: func() *schema.Table { return sinktest.AllTypes(schema.Analytics) },
		New:   func(t *testing.T) sink.Sink { return open(t) },
		ReadBack: func(t *testing.T, ss sink.Sink, tbl *schema.Table) []schematest.Row {
			s := ss.(*Sink)
			rows, err := s.db.QueryContext(context.Background(), fmt.Sprintf(`SELECT id, kind, n32, n64, f, ok, "at", "day", doc, tags FROM %s ORDER BY id`, schema.QuoteIdent(tbl.Name)))
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var out []schematest.Row
			for rows.Next() {
				var (
					id, kind, doc string
					n32           int32
					n64           int64
					f             float64
					ok            bool
					at, day       time.Time
					tags          []any
				)
				if err := rows.Scan(&id, &kind, &n32, &n64, &f, &ok, &at, &day, &doc, &tags); err != nil {
					t.Fatal(err)
				}
				strs := make([]string, len(tags))
				for i, v := range tags {
					strs[i] = v.(string)
				}
				out = append(out, schematest.Row{id, kind, n32, n64, f, ok, at.UTC(), day.UTC(), doc, strs})
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			return out
		},
		// DuckDB text must be valid UTF-8.
		Spoil: func(tbl *schema.Table, r schematest.Row) { r[tbl.Index("kind")] = "bad\xff\xfe" },
		// The single writer held by someone else: a Write gives up within
		// its ctx (transient), and is taken when the writer is free.
		Gone: func(t *testing.T) (sink.Sink, func()) {
			s := open(t)
			if err := s.Migrate(context.Background(), []*schema.Table{sinktest.AllTypes(schema.Analytics)}); err != nil {
				t.Fatal(err)
			}
			if err := s.lock(context.Background()); err != nil {
				t.Fatal(err)
			}
			return s, s.unlock
		},
	})
}
