package clickhouse

import (
	"context"
	"fmt"
	ch "github.com/ClickHouse/clickhouse-go/v2"
	"strings"
	"time"

	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/sink"
)

// The ranges ClickHouse's DateTime (UInt32 seconds) and Date (UInt16 days)
// hold. The driver wraps values outside them silently, so they are checked
// before sending.
var (
	minTime     = time.Unix(0, 0).UTC()
	maxDateTime = time.Unix(1<<32-1, 0).UTC()         // 2106-02-07 06:28:15
	maxDate     = time.Unix((1<<16-1)*86400, 0).UTC() // 2149-06-06
)

// Write implements sink.Sink: one INSERT of the batch, column by column
// (clickhouse-go's columnar append: no per-row boxing). Rows whose values
// ClickHouse cannot hold fail alone before the insert; a batch the server
// refuses for its data is split to find the rows at fault. Both are named
// in a *fault.Partial while the others commit. Connection errors, timeouts
// and a busy server fail the whole write (transient or throttled); a retry
// may re-insert rows that committed, which ReplacingMergeTree collapses.
func (s *Sink) Write(ctx context.Context, b *schema.Batch) (err error) {
	n := b.Len()
	if n == 0 {
		return nil
	}
	ctx, cancel := sink.WithDefaultTimeout(ctx, s.cfg.WriteTimeout)
	defer cancel()
	failed := checkRanges(b)
	sent, good := b, []int(nil)
	if len(failed) > 0 {
		good = make([]int, 0, n-len(failed))
		for i := range n {
			if failed[i] == nil {
				good = append(good, i)
			}
		}
		sent = b.Select(good)
	}
	if sent.Len() > 0 {
		// A block the server refuses for its data is split to find the rows
		// at fault (sink.Isolate); every partial insert is counted.
		err := s.m.Isolate(ctx, sent, s.insert)
		p, partial := fault.AsPartial(err)
		if err != nil && !partial {
			return err
		}
		if partial {
			if failed == nil {
				failed = map[int]error{}
			}
			for j, e := range p.Failed {
				if good != nil {
					j = good[j]
				}
				failed[j] = e
			}
		}
	}
	return fault.NewPartial(failed)
}

// insert sends the batch as one block, one column append per column.
func (s *Sink) insert(ctx context.Context, b *schema.Batch) error {
	t := b.Table
	q := s.insertSQL(t)
	if s.cfg.Cluster != "" {
		// Into the Distributed table, synchronously: the insert returns
		// only once every shard's replicated table has the rows.
		ctx = ch.Context(ctx, ch.WithSettings(ch.Settings{"insert_distributed_sync": 1}))
	}
	batch, err := s.conn.PrepareBatch(ctx, q)
	if err != nil {
		return fmt.Errorf("clickhouse: insert into %s: %w", s.qualified(t), classify(err))
	}
	var u8 []uint8
	for i := range b.Cols {
		c := &b.Cols[i]
		var v any
		switch c.Type {
		case schema.String, schema.JSON:
			v = c.Str
		case schema.Int32:
			v = c.I32
		case schema.Int64:
			v = c.I64
		case schema.Float64:
			v = c.F64
		case schema.Bool: // UInt8
			u8 = u8[:0]
			for _, x := range c.Bool {
				var n uint8
				if x {
					n = 1
				}
				u8 = append(u8, n)
			}
			v = u8
		case schema.DateTime, schema.Date:
			v = c.Time
		case schema.Strings:
			v = c.List
		default:
			_ = batch.Abort()
			return fault.Permanentf("clickhouse: column %s.%s: unknown type %q", t.Name, t.Columns[i].Name, c.Type)
		}
		if err := batch.Column(i).Append(v); err != nil {
			// The driver refused a value it was given: the data is at fault.
			_ = batch.Abort()
			return fault.Permanent(fmt.Errorf("clickhouse: insert into %s, column %s: %w", s.qualified(t), t.Columns[i].Name, err))
		}
		if c.Type == schema.Bool {
			u8 = nil // the driver may keep the slice until Send
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("clickhouse: insert into %s: %w", s.qualified(t), classify(err))
	}
	return nil
}

// insertSQL names every column: ClickHouse 18.16 with this driver inserts
// only with an explicit column list.
func (s *Sink) insertSQL(t *schema.Table) string {
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(s.qualified(t))
	b.WriteString(" (")
	for i, c := range t.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(schema.QuoteIdent(c.Name))
	}
	b.WriteString(")")
	return b.String()
}

// checkRanges returns the rows of b whose times ClickHouse's DateTime
// (UInt32 seconds) or Date (UInt16 days) cannot hold, each with its
// reason, or nil when every row fits.
func checkRanges(b *schema.Batch) map[int]error {
	var failed map[int]error
	t := b.Table
	for ci, c := range t.Columns {
		var hi time.Time
		switch c.Type {
		case schema.DateTime:
			hi = maxDateTime
		case schema.Date:
			hi = maxDate
		default:
			continue
		}
		for i, v := range b.Cols[ci].Time {
			if !v.Before(minTime) && !v.After(hi) {
				continue
			}
			if failed == nil {
				failed = map[int]error{}
			}
			if failed[i] == nil {
				failed[i] = fault.Permanent(&schema.ColumnError{Table: t.Name, Column: c.Name, From: c.From,
					Err: fmt.Errorf("%s is outside ClickHouse's %s range [%s, %s]",
						v.UTC().Format(time.RFC3339), c.Type, minTime.Format(time.DateOnly), hi.Format(time.DateOnly))})
			}
		}
	}
	return failed
}
