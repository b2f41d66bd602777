package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/sink"
)

// stageTable is the temporary table each Write copies its rows into; it is
// dropped when the transaction ends.
const stageTable = "event_grpc_stage"

// Write implements sink.Sink. In one transaction the rows are copied into a
// temporary table and inserted from there, skipping keys already stored
// (ON CONFLICT DO NOTHING) or, for versioned tables, merging into the
// stored row. Rows sharing a key within the batch are reduced to one first
// (the first one; for versioned tables, the merge of all). A batch the
// server refuses for its data (SQLSTATE 22xxx, 23xxx) is split to find the
// rows at fault, named in a *fault.Partial while the others commit.
func (s *Sink) Write(ctx context.Context, b *schema.Batch) (err error) {
	n := b.Len()
	if n == 0 {
		return nil
	}
	t := b.Table
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.WriteTimeout)
		defer cancel()
	}
	// COPY takes rows of values: the batch's columns are read row by row.
	rows := make([]schema.Row, n)
	vals := make([]any, n*len(b.Cols))
	good := make([]int, n)
	for i := range n {
		rows[i] = vals[i*len(b.Cols) : (i+1)*len(b.Cols) : (i+1)*len(b.Cols)]
		b.RowInto(i, rows[i])
		good[i] = i
	}
	failed := map[int]error{}
	staged, members := dedupe(t, rows, good)
	if len(staged) > 0 {
		// A batch the server refuses for its data is split to find the rows
		// at fault (sink.Isolate); every partial write is counted.
		sb, err := schema.BatchOf(t, staged)
		if err != nil {
			return fault.Permanent(err)
		}
		err = sink.Isolate(ctx, sb, func(ctx context.Context, part *schema.Batch) error {
			if part.Len() < sb.Len() {
				s.m.Splits.WithLabelValues(t.Name).Inc()
			}
			return s.write(ctx, part)
		}, sink.SplitBudget)
		p, partial := fault.AsPartial(err)
		if err != nil && !partial {
			return err
		}
		if partial {
			for i, e := range p.Failed {
				for _, r := range members[i] {
					failed[r] = e
				}
			}
		}
	}
	return fault.NewPartial(failed)
}

// write stores staged in one transaction.
func (s *Sink) write(ctx context.Context, staged *schema.Batch) error {
	t := staged.Table
	q := s.qualified(t)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, fmt.Sprintf("CREATE TEMP TABLE %s (LIKE %s INCLUDING DEFAULTS) ON COMMIT DROP",
			schema.QuoteIdent(stageTable), q)); err != nil {
			return fmt.Errorf("staging table: %w", err)
		}
		row := make([]any, len(staged.Cols))
		_, err := tx.CopyFrom(ctx, pgx.Identifier{stageTable}, t.ColumnNames(),
			pgx.CopyFromSlice(staged.Len(), func(i int) ([]any, error) { staged.RowInto(i, row); return row, nil }))
		if err != nil {
			return fmt.Errorf("copy: %w", err)
		}
		if _, err := tx.Exec(ctx, upsertSQL(t, q)); err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: write %s: %w", q, classify(err))
	}
	return nil
}

// upsertSQL moves the staged rows into the table. Unversioned tables keep
// the stored row of a key. Versioned tables merge column by column: a
// column takes the new value when that is not the type's zero and either
// the new row is newer or the stored value is the zero; the version becomes
// the greater. The WHERE clause skips updates that would change nothing
// (a redelivered message).
func upsertSQL(t *schema.Table, qualified string) string {
	cols := t.ColumnNames()
	list := joinIdents(cols)
	key := t.UniqueKey()
	var b strings.Builder
	fmt.Fprintf(&b, "INSERT INTO %s AS cur (%s) SELECT %s FROM %s ON CONFLICT (%s) ",
		qualified, list, list, schema.QuoteIdent(stageTable), joinIdents(key))
	if t.Version == "" {
		b.WriteString("DO NOTHING")
		return b.String()
	}
	isKey := map[string]bool{}
	for _, k := range key {
		isKey[k] = true
	}
	v := schema.QuoteIdent(t.Version)
	newer := fmt.Sprintf("EXCLUDED.%s > cur.%s", v, v)
	var sets, fills []string
	for _, c := range t.Columns {
		if isKey[c.Name] || c.Name == t.Version {
			continue
		}
		n, zero := schema.QuoteIdent(c.Name), schema.PostgresZero(c.Type)
		sets = append(sets, fmt.Sprintf("%s = CASE WHEN EXCLUDED.%s <> %s AND (%s OR cur.%s = %s) THEN EXCLUDED.%s ELSE cur.%s END",
			n, n, zero, newer, n, zero, n, n))
		fills = append(fills, fmt.Sprintf("(cur.%s = %s AND EXCLUDED.%s <> %s)", n, zero, n, zero))
	}
	sets = append(sets, fmt.Sprintf("%s = GREATEST(cur.%s, EXCLUDED.%s)", v, v, v))
	fmt.Fprintf(&b, "DO UPDATE SET %s WHERE %s", strings.Join(sets, ", "), strings.Join(append([]string{newer}, fills...), " OR "))
	return b.String()
}

func joinIdents(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = schema.QuoteIdent(n)
	}
	return strings.Join(q, ", ")
}

// dedupe reduces rows[idx] to one row per key, in first-seen order; members
// lists the indexes of rows each staged row stands for. Versioned tables
// merge rows of one key by the rule of upsertSQL, so a batch gives the same
// result as writing its rows one by one.
func dedupe(t *schema.Table, rows []schema.Row, idx []int) (staged []schema.Row, members [][]int) {
	keyCols := make([]int, 0, len(t.UniqueKey()))
	for _, k := range t.UniqueKey() {
		keyCols = append(keyCols, t.Index(k))
	}
	ver := -1
	if t.Version != "" {
		ver = t.Index(t.Version)
	}
	pos := make(map[string]int, len(idx))
	var kb strings.Builder
	for _, i := range idx {
		kb.Reset()
		for _, c := range keyCols {
			kb.WriteString(keyPart(rows[i][c]))
			kb.WriteByte(0)
		}
		k := kb.String()
		p, seen := pos[k]
		if !seen {
			pos[k] = len(staged)
			staged = append(staged, rows[i])
			members = append(members, []int{i})
			continue
		}
		members[p] = append(members[p], i)
		if ver >= 0 {
			staged[p] = merge(t, staged[p], rows[i], ver, keyCols)
		}
	}
	return staged, members
}

func keyPart(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case time.Time:
		return strconv.FormatInt(x.UnixNano(), 10)
	}
	return fmt.Sprint(v)
}

// merge returns cur merged with next (a new row; cur is not changed).
func merge(t *schema.Table, cur, next schema.Row, ver int, keyCols []int) schema.Row {
	out := append(schema.Row(nil), cur...)
	curV, nextV := cur[ver].(time.Time), next[ver].(time.Time)
	newer := nextV.After(curV)
	isKey := map[int]bool{ver: true}
	for _, k := range keyCols {
		isKey[k] = true
	}
	for c, col := range t.Columns {
		if isKey[c] || isZero(col.Type, next[c]) {
			continue
		}
		if newer || isZero(col.Type, cur[c]) {
			out[c] = next[c]
		}
	}
	if newer {
		out[ver] = nextV
	}
	return out
}

// isZero reports whether v is the type's zero (schema.Zero), the value
// PostgresZero spells in SQL.
func isZero(t schema.Type, v any) bool {
	switch x := v.(type) {
	case string:
		if t == schema.JSON {
			return x == "{}"
		}
		return x == ""
	case int32:
		return x == 0
	case int64:
		return x == 0
	case float64:
		return x == 0
	case bool:
		return !x
	case time.Time:
		return x.Equal(time.Unix(0, 0))
	case []string:
		return len(x) == 0
	}
	return v == nil
}
