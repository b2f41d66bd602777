package postgres

import (
	"context"
	"fmt"
	"strings"

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
	if b.Len() == 0 {
		return nil
	}
	ctx, cancel := sink.WithDefaultTimeout(ctx, s.cfg.WriteTimeout)
	defer cancel()
	failed := map[int]error{}
	sb, members := dedupe(b)
	if sb.Len() > 0 {
		// A batch the server refuses for its data is split to find the rows
		// at fault (sink.Isolate); every partial write is counted.
		err = s.m.Isolate(ctx, sb, s.write)
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
		_, err := tx.CopyFrom(ctx, pgx.Identifier{stageTable}, t.ColumnNames(), newCopySource(staged))
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

// dedupe reduces the rows of b to one row per key, in first-seen order;
// members lists the rows of b each staged row stands for. Versioned tables
// merge rows of one key by the rule of upsertSQL, so a batch gives the same
// result as writing its rows one by one. A batch without repeated keys is
// staged as it is.
func dedupe(b *schema.Batch) (staged *schema.Batch, members [][]int) {
	t := b.Table
	keyCols := make([]int, 0, len(t.UniqueKey()))
	for _, k := range t.UniqueKey() {
		keyCols = append(keyCols, t.Index(k))
	}
	ver := -1
	if t.Version != "" {
		ver = t.Index(t.Version)
	}
	n := b.Len()
	pos := make(map[string]int, n)
	members = make([][]int, 0, n)
	firsts := make([]int, 0, n)
	var merges [][2]int // (staged row, row of b) in the order met
	var kb []byte
	for i := range n {
		kb = b.AppendKey(kb[:0], i, keyCols)
		p, seen := pos[string(kb)]
		if !seen {
			pos[string(kb)] = len(firsts)
			firsts = append(firsts, i)
			members = append(members, []int{i})
			continue
		}
		members[p] = append(members[p], i)
		if ver >= 0 {
			merges = append(merges, [2]int{p, i})
		}
	}
	if len(firsts) == n {
		return b, members
	}
	staged = b.Select(firsts)
	if len(merges) > 0 {
		isKey := make([]bool, len(t.Columns))
		isKey[ver] = true
		for _, k := range keyCols {
			isKey[k] = true
		}
		for _, m := range merges {
			merge(staged, m[0], b, m[1], ver, isKey)
		}
	}
	return staged, members
}

// merge merges row j of next (a newer arrival) into row i of cur: a column
// takes next's value when that is not the type's zero and either next is
// newer by the version column or cur's value is the zero.
func merge(cur *schema.Batch, i int, next *schema.Batch, j, ver int, isKey []bool) {
	newer := next.Cols[ver].Time[j].After(cur.Cols[ver].Time[i])
	for c := range cur.Cols {
		if isKey[c] || next.IsZero(c, j) {
			continue
		}
		if newer || cur.IsZero(c, i) {
			cur.Set(c, i, next, j)
		}
	}
	if newer {
		cur.Set(ver, i, next, j)
	}
}

// copySource feeds a batch to COPY row by row: pgx takes each row as
// values of any, which it encodes at once, so one row of boxes is reused.
type copySource struct {
	b   *schema.Batch
	i   int
	row []any
}

func newCopySource(b *schema.Batch) *copySource {
	return &copySource{b: b, i: -1, row: make([]any, len(b.Cols))}
}

func (s *copySource) Next() bool { s.i++; return s.i < s.b.Len() }

func (s *copySource) Err() error { return nil }

func (s *copySource) Values() ([]any, error) {
	i := s.i
	for c := range s.b.Cols {
		col := &s.b.Cols[c]
		switch col.Type {
		case schema.String, schema.JSON:
			s.row[c] = col.Str[i]
		case schema.Int32:
			s.row[c] = col.I32[i]
		case schema.Int64:
			s.row[c] = col.I64[i]
		case schema.Float64:
			s.row[c] = col.F64[i]
		case schema.Bool:
			s.row[c] = col.Bool[i]
		case schema.DateTime, schema.Date:
			s.row[c] = col.Time[i]
		case schema.Strings:
			s.row[c] = col.List[i]
		}
	}
	return s.row, nil
}
