package duckdb

import (
	"context"
	"database/sql/driver"
	"strings"
	"syscall"
	"testing"
	"time"

	duck "github.com/duckdb/duckdb-go/v2"

	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/sink/sinktest"
)

// BenchmarkDedupe measures what "a redelivered message never makes a
// second row" costs on the Appender path, per 5,000-row batch of the event
// table, in the steady state (use -benchtime 60x or more):
//
//	pk:        the table's PRIMARY KEY (event_name, event_id): an ART
//	           index update per appended row (today's design)
//	nopk:      no key at all: the floor, no guarantee
//	nopk+check: no key; before appending, the batch's ids are appended to
//	           a temporary table and semi-joined with the stored rows of
//	           the batch's event_timestamp range (row groups outside it are
//	           skipped by their min/max); stored ids are dropped
func BenchmarkDedupe(b *testing.B) {
	for _, mode := range []string{"pk", "nopk", "nopk+check"} {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			s := openWith(b, Config{CheckpointThreshold: "128MB"})
			t := schema.EventTable()
			ddl := schema.DuckDB.CreateTable(t, qualified(t))
			if mode != "pk" {
				ddl = ddl[:strings.LastIndex(ddl, ",\n  PRIMARY KEY")] + "\n)"
			}
			if _, err := s.writer.ExecContext(ctx, ddl); err != nil {
				b.Fatal(err)
			}
			if _, err := s.writer.ExecContext(ctx, `CREATE TEMP TABLE batch_ids (id VARCHAR)`); err != nil {
				b.Fatal(err)
			}
			const size = 5000
			base := time.Now().UTC().Truncate(time.Second)
			mk := func(n int) *schema.Batch {
				return sinktest.Batch(b, t, eventRows(t, size, base.Add(time.Duration(n)*time.Second)))
			}
			cols := t.ColumnNames()
			var cpu time.Duration
			b.ResetTimer()
			for n := 0; b.Loop(); n++ {
				b.StopTimer()
				batch := mk(n)
				c0 := cpuTime()
				b.StartTimer()
				if mode == "nopk+check" {
					ts := batch.Cols[2].Time
					lo, hi := ts[0], ts[0]
					for _, x := range ts {
						if x.After(hi) {
							hi = x
						}
						if x.Before(lo) {
							lo = x
						}
					}
					if _, err := s.writer.ExecContext(ctx, `DELETE FROM batch_ids`); err != nil {
						b.Fatal(err)
					}
					err := s.writer.Raw(func(dc any) error {
						app, err := duck.NewAppenderWithColumns(dc.(driver.Conn), "temp", "main", "batch_ids", []string{"id"})
						if err != nil {
							return err
						}
						for _, id := range batch.Cols[0].Str {
							if err := app.AppendRow(id); err != nil {
								return err
							}
						}
						return app.Close()
					})
					if err != nil {
						b.Fatal(err)
					}
					rows, err := s.writer.QueryContext(ctx, `SELECT e.event_id FROM event e SEMI JOIN batch_ids k ON e.event_id = k.id WHERE e.event_timestamp BETWEEN ? AND ?`, lo, hi)
					if err != nil {
						b.Fatal(err)
					}
					found := 0
					for rows.Next() {
						found++
					}
					rows.Close()
					if found != 0 {
						b.Fatalf("%d new ids found stored", found)
					}
				}
				if err := s.appendRows(ctx, "event", "", cols, batch); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				cpu += cpuTime() - c0
				b.StartTimer()
			}
			c0 := cpuTime()
			if _, err := s.writer.ExecContext(ctx, "CHECKPOINT"); err != nil {
				b.Fatal(err)
			}
			cpu += cpuTime() - c0
			b.StopTimer()
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*size), "cpu-µs/row")
		})
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
