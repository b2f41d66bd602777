package postgres

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
	schemas := map[sink.Sink]string{}
	sinktest.Run(t, sinktest.Harness{
		Table: func() *schema.Table { return sinktest.AllTypes(schema.Transactional, "id") },
		New: func(t *testing.T) sink.Sink {
			s, sch := newSink(t)
			schemas[s] = sch
			return s
		},
		ReadBack: func(t *testing.T, ss sink.Sink, tbl *schema.Table) []schematest.Row {
			s := ss.(*Sink)
			rows, err := s.pool.Query(context.Background(), fmt.Sprintf("SELECT id, kind, n32, n64, f, ok, at, day, doc::text, tags FROM %s ORDER BY id", schema.Qualify(schemas[ss], tbl.Name)))
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
					tags          []string
				)
				if err := rows.Scan(&id, &kind, &n32, &n64, &f, &ok, &at, &day, &doc, &tags); err != nil {
					t.Fatal(err)
				}
				out = append(out, schematest.Row{id, kind, n32, n64, f, ok, at.UTC(), day.UTC(), doc, tags})
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			return out
		},
		// PostgreSQL text cannot hold a NUL byte.
		Spoil: func(tbl *schema.Table, r schematest.Row) { r[tbl.Index("kind")] = "nul\x00byte" },
		Gone: func(t *testing.T) (sink.Sink, func()) {
			p := sinktest.NewProxy(t, "127.0.0.1:5432")
			s, sch := newSink(t, func(c *Config) { c.Port = p.Port() })
			schemas[s] = sch
			if err := s.Migrate(context.Background(), []*schema.Table{sinktest.AllTypes(schema.Transactional, "id")}); err != nil {
				t.Fatal(err)
			}
			p.Cut()
			return s, func() { p.Restart(t) }
		},
	})
}
