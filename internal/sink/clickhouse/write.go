package clickhouse

import (
	"context"
	"errors"
	"fmt"
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

// Write implements sink.Sink: one INSERT of the rows. Rows whose values
// ClickHouse cannot hold fail alone before the insert; a batch the server
// refuses for its data is split to find the rows at fault. Both are named in
// a *sink.BatchError while the others commit. Connection errors, timeouts
// and a busy server fail the whole write (transient or throttled); a retry
// may re-insert rows that committed, which ReplacingMergeTree collapses.
func (s *Sink) Write(ctx context.Context, t *schema.Table, rows []schema.Row) (err error) {
	if len(rows) == 0 {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.WriteTimeout)
		defer cancel()
	}
	start := time.Now()
	defer func() { s.m.ObserveWrite(t.Name, len(rows), time.Since(start), err) }()
	failed := map[int]error{}
	good := make([]int, 0, len(rows))
	for i, r := range rows {
		if err := checkRow(t, r); err != nil {
			failed[i] = err
			continue
		}
		good = append(good, i)
	}
	if len(good) > 0 {
		sent := make([]schema.Row, len(good))
		for j, i := range good {
			sent[j] = rows[i]
		}
		// A block the server refuses for its data is split to find the rows
		// at fault (sink.Isolate); every partial insert is counted.
		err := sink.Isolate(ctx, sent, func(ctx context.Context, part []schema.Row) error {
			if len(part) < len(sent) {
				s.m.Splits.WithLabelValues(t.Name).Inc()
			}
			return s.insert(ctx, t, part)
		}, sink.SplitBudget)
		var be *sink.BatchError
		if err != nil && !errors.As(err, &be) {
			return err
		}
		if be != nil {
			for j, e := range be.Failed {
				failed[good[j]] = e
			}
		}
	}
	if len(failed) > 0 {
		return &sink.BatchError{Failed: failed}
	}
	return nil
}

// insert sends rows as one block.
func (s *Sink) insert(ctx context.Context, t *schema.Table, rows []schema.Row) error {
	q := s.insertSQL(t)
	batch, err := s.conn.PrepareBatch(ctx, q)
	if err != nil {
		return fmt.Errorf("clickhouse: insert into %s: %w", s.qualified(t), classify(err))
	}
	for _, r := range rows {
		if err := batch.Append(r...); err != nil {
			// checkRow passed, so the driver refused a value it was given:
			// the row's data is at fault.
			_ = batch.Abort()
			return fault.Permanent(fmt.Errorf("clickhouse: insert into %s: %w", s.qualified(t), err))
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

// checkRow checks the Go types and the ClickHouse ranges of a row's values.
func checkRow(t *schema.Table, r schema.Row) error {
	if err := t.CheckRow(r); err != nil {
		return fault.Permanent(err)
	}
	for i, c := range t.Columns {
		var hi time.Time
		switch c.Type {
		case schema.DateTime:
			hi = maxDateTime
		case schema.Date:
			hi = maxDate
		default:
			continue
		}
		v := r[i].(time.Time)
		if v.Before(minTime) || v.After(hi) {
			return fault.Permanent(&schema.ColumnError{Table: t.Name, Column: c.Name, From: c.From,
				Err: fmt.Errorf("%s is outside ClickHouse's %s range [%s, %s]",
					v.UTC().Format(time.RFC3339), c.Type, minTime.Format(time.DateOnly), hi.Format(time.DateOnly))})
		}
	}
	return nil
}
