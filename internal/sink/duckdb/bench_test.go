package duckdb

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/schema/schematest"
	"github.com/event-grpc/event-grpc/internal/sink/sinktest"
)

// BenchmarkWriteEvents writes batches of distinct rows to the event table,
// the hot path of the zero-configuration store, at DuckDB's default
// checkpoint threshold and at ours. Rows are only comparable in the steady
// state, with checkpoints in the run: use -benchtime 100x or more.
func BenchmarkWriteEvents(b *testing.B) {
	for _, c := range []struct {
		size      int
		threshold string
	}{{5000, "16MB"}, {5000, "128MB"}, {20000, "128MB"}} {
		size := c.size
		b.Run(fmt.Sprintf("batch=%d/checkpoint=%s", size, c.threshold), func(b *testing.B) {
			ctx := context.Background()
			s := openWith(b, Config{CheckpointThreshold: c.threshold})
			t := schema.EventTable()
			sinktest.Migrate(b, s, t)
			now := time.Now().UTC()
			batches := make([]*schema.Batch, b.N)
			for i := range batches {
				batches[i] = sinktest.Batch(b, t, eventRows(t, size, now))
			}
			b.ResetTimer()
			for i := range b.N {
				if err := s.Write(ctx, batches[i]); err != nil {
					b.Fatal(err)
				}
			}
			// The checkpoint the run's rows still owe is part of their cost.
			if _, err := s.writer.ExecContext(ctx, "CHECKPOINT"); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// eventRows returns n rows of the event table t with fresh ids, all at at.
func eventRows(t *schema.Table, n int, at time.Time) []schematest.Row {
	rows := make([]schematest.Row, n)
	for i := range rows {
		r := make(schematest.Row, len(t.Columns))
		for j, c := range t.Columns {
			r[j] = schema.Zero(c.Type)
			if c.Type == schema.String {
				r[j] = "value-of-" + c.Name
			}
		}
		r[0] = uuid.Must(uuid.NewV7()).String()
		r[1] = "PageOpenedEvent"
		r[2], r[3] = at, at
		r[len(r)-1] = `{"page":"home","referrer":"push"}`
		rows[i] = r
	}
	return rows
}
