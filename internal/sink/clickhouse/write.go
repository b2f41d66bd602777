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

// maxSplitWrites bounds the partial inserts one Write makes to isolate the
// rows the server refused. One bad row among n costs about 2·log2(n)
// inserts (28 for 10,000 rows); when the budget runs out, the rows of each
// range still failing are reported failed together (they are retried with
// their message's retry count and, if good, pass in another batch).
const maxSplitWrites = 128

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
	failed := map[int]error{}
	good := make([]int, 0, len(rows))
	for i, r := range rows {
		if err := checkRow(t, r); err != nil {
			failed[i] = err
			continue
		}
		good = append(good, i)
	}
	defer func() {
		s.m.duration.WithLabelValues(t.Name).Observe(time.Since(start).Seconds())
		var be *sink.BatchError
		if err != nil && !errors.As(err, &be) {
			s.m.writeErrors.WithLabelValues(t.Name, kindLabel(err)).Inc()
			return
		}
		s.m.rowsWritten.WithLabelValues(t.Name).Add(float64(len(rows) - len(failed)))
		s.m.rowsFailed.WithLabelValues(t.Name).Add(float64(len(failed)))
	}()
	if len(good) > 0 {
		err := s.insert(ctx, t, rows, good)
		if err != nil && !fault.IsPermanent(err) {
			return err
		}
		if err != nil {
			budget := maxSplitWrites
			if err := s.isolate(ctx, t, rows, good, err, &budget, failed); err != nil {
				return err
			}
		}
	}
	if len(failed) > 0 {
		return &sink.BatchError{Failed: failed}
	}
	return nil
}

// isolate finds the rows of idx that the server refuses, by inserting
// halves. cause is why idx as a whole failed. It returns a non-permanent
// error as soon as one occurs.
func (s *Sink) isolate(ctx context.Context, t *schema.Table, rows []schema.Row, idx []int, cause error, budget *int, failed map[int]error) error {
	if len(idx) == 1 || *budget <= 0 {
		for _, i := range idx {
			failed[i] = cause
		}
		return nil
	}
	mid := len(idx) / 2
	for _, half := range [][]int{idx[:mid], idx[mid:]} {
		*budget--
		s.m.splits.WithLabelValues(t.Name).Inc()
		err := s.insert(ctx, t, rows, half)
		switch {
		case err == nil:
		case !fault.IsPermanent(err):
			return err
		default:
			if err := s.isolate(ctx, t, rows, half, err, budget, failed); err != nil {
				return err
			}
		}
	}
	return nil
}

// insert sends rows[idx] as one block.
func (s *Sink) insert(ctx context.Context, t *schema.Table, rows []schema.Row, idx []int) error {
	q := s.insertSQL(t)
	batch, err := s.conn.PrepareBatch(ctx, q)
	if err != nil {
		return fmt.Errorf("clickhouse: insert into %s: %w", s.qualified(t), classify(err))
	}
	for _, i := range idx {
		if err := batch.Append(rows[i]...); err != nil {
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
