package duckdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/query"
	"github.com/event-grpc/event-grpc/internal/sink"
)

// queryGuard is what the query connection sets once, before its first
// query.
type queryGuard struct {
	once sync.Once
	err  error
}

// lockConfiguration freezes DuckDB's settings (lock_configuration is
// global: no connection can change memory_limit, threads,
// enable_external_access … after it), so that no statement of the query
// endpoint, however spelled, changes how the writer runs. The settings
// the store needs are all given when the database opens (see New), so
// the write path sets nothing afterwards.
func (s *Sink) lockConfiguration(ctx context.Context) error {
	s.guard.once.Do(func() {
		if _, err := s.reader.ExecContext(ctx, "SET lock_configuration = true"); err != nil {
			s.guard.err = fmt.Errorf("duckdb: locking the configuration: %w", err)
		}
	})
	return s.guard.err
}

// DefaultQueryTimeout bounds a query endpoint statement's run time.
const DefaultQueryTimeout = sink.QueryTimeout

// cellLimitMessage is the error a value over query.MaxResultBytes raises
// inside DuckDB (see bounded).
var cellLimitMessage = fmt.Sprintf("a value of the result is over %d bytes, the query endpoint's limit; select part of it (e.g. left(col, 1000))", query.MaxResultBytes)

// Query implements sink.Querier: one read-only statement. Three guards,
// the engine's first: the configuration is locked (no SET, PRAGMA or
// RESET takes), external access is off since open (no files, network,
// ATTACH, INSTALL or LOAD), and the statement runs in a READ ONLY
// transaction that is always rolled back (no write, no CHECKPOINT). The
// lexer (ReadOnly) refuses everything that is not one query before it
// reaches the engine. The result is bounded in rows (maxRows) and bytes
// (query.MaxResultBytes) before it is materialised (see bounded), and the
// statement in time (Config.QueryTimeout: DuckDB has no per-statement
// timeout setting, so the context's deadline interrupts it).
func (s *Sink) Query(ctx context.Context, q string, maxRows int) ([]string, [][]string, error) {
	if err := ReadOnly(q); err != nil {
		return nil, nil, err
	}
	if err := s.checkSizers(ctx, q); err != nil {
		return nil, nil, err
	}
	return s.query(ctx, bounded(q, maxRows), maxRows)
}

// sizers are the functions whose result's size is set by an argument
// rather than by what is stored, each with why it is refused. DuckDB builds such a value outside its memory_limit and cannot
// be interrupted while it does (SELECT repeat('x', 800000000) took the
// process past 4 GB), so no bound on the result can keep the process within
// its budget: the statement is refused before it runs. The table functions
// range and generate_series stream their rows (the row limit stops them)
// and stay allowed in FROM.
var sizers = map[string]string{
	"repeat":          "its result's size is its argument's",
	"lpad":            "its result's size is its argument's",
	"rpad":            "its result's size is its argument's",
	"printf":          "a width in its format sets its result's size",
	"format":          "a width in its format sets its result's size",
	"bar":             "its width argument sets its result's size",
	"bitstring":       "its length argument sets its result's size",
	"list_resize":     "its size argument sets its result's size",
	"array_resize":    "its size argument sets its result's size",
	"range":           "as a value it is a list of as many elements as its argument says (in FROM it streams rows and is allowed)",
	"generate_series": "as a value it is a list of as many elements as its argument says (in FROM it streams rows and is allowed)",
	"query":           "it runs SQL given as a string, which the endpoint cannot check",
	"query_table":     "it runs SQL given as a string, which the endpoint cannot check",
}

// streamed are the table functions allowed in FROM although they are
// sizers as values.
var streamed = map[string]bool{"range": true, "generate_series": true}

// checkSizers parses q with DuckDB's own parser (json_serialize_sql) and
// refuses a call of a sizer or a recursive CTE (which can double a value at
// each step: s || s), naming it. It does not see a value multiplied by
// concatenation through a chain of ordinary CTEs (each level s||s||…):
// that one is built before the result limit refuses it. A statement the parser does not serialize
// (EXPLAIN) is checked by the query it explains; anything else it refuses
// to serialize goes on to the engine's guards.
func (s *Sink) checkSizers(ctx context.Context, q string) error {
	code, err := syntax.Statement(q)
	if err != nil {
		return err
	}
	code = explained(code)
	var tree string
	s.rmu.Lock()
	err = s.reader.QueryRowContext(ctx, "SELECT CAST(json_serialize_sql($1::VARCHAR) AS VARCHAR)", code).Scan(&tree)
	s.rmu.Unlock()
	if err != nil {
		return fmt.Errorf("duckdb: parsing the query: %w", err)
	}
	var root any
	if err := json.Unmarshal([]byte(tree), &root); err != nil {
		return fmt.Errorf("duckdb: reading the parsed query: %w", err)
	}
	return refuseSizers(root, false)
}

// explained is the query an EXPLAIN [ANALYZE] [(options)] statement
// explains, or code itself.
func explained(code string) string {
	rest := strings.TrimSpace(code)
	word := func(w string) bool {
		if len(rest) > len(w) && strings.EqualFold(rest[:len(w)], w) && !isWordByte(rest[len(w)]) {
			rest = strings.TrimSpace(rest[len(w):])
			return true
		}
		return false
	}
	if !word("EXPLAIN") {
		return code
	}
	if strings.HasPrefix(rest, "(") {
		if i := strings.IndexByte(rest, ')'); i >= 0 {
			rest = strings.TrimSpace(rest[i+1:])
		}
	}
	word("ANALYZE")
	return rest
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// refuseSizers walks DuckDB's serialized parse tree.
func refuseSizers(n any, tableFunction bool) error {
	switch v := n.(type) {
	case []any:
		for _, e := range v {
			if err := refuseSizers(e, false); err != nil {
				return err
			}
		}
	case map[string]any:
		if v["type"] == "RECURSIVE_CTE_NODE" {
			return fault.Permanentf("the query endpoint does not run recursive CTEs: each step can double a value, which DuckDB builds outside its memory limit")
		}
		if v["class"] == "FUNCTION" {
			name, _ := v["function_name"].(string)
			name = strings.ToLower(name)
			if why, ok := sizers[name]; ok && !(tableFunction && streamed[name]) {
				return fault.Permanentf("the query endpoint does not run %s(): %s, and DuckDB builds such a value outside its memory limit", name, why)
			}
		}
		for k, e := range v {
			if err := refuseSizers(e, k == "function" && v["type"] == "TABLE_FUNCTION"); err != nil {
				return err
			}
		}
	}
	return nil
}

// bounded wraps a query (SELECT, WITH, FROM, VALUES, SUMMARIZE) so that
// DuckDB itself refuses a value whose text is over query.MaxResultBytes,
// with cellLimitMessage, before the value is copied into the result or
// out of the engine, and stops after maxRows+1 rows. The value is still
// computed once inside DuckDB (its string vectors are outside its
// memory_limit); nothing copies it further. Other statements (SHOW,
// DESCRIBE, EXPLAIN, TABLE) are returned as they are: their cells are
// bounded by what is stored, and the row and byte budgets of query apply.
func bounded(q string, maxRows int) string {
	code, err := syntax.Statement(q)
	if err != nil {
		return q
	}
	words := strings.FieldsFunc(code, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') })
	if len(words) == 0 {
		return q
	}
	switch strings.ToUpper(words[0]) {
	case "SELECT", "WITH", "FROM", "VALUES", "SUMMARIZE":
	default:
		return q
	}
	limit := ""
	if maxRows > 0 {
		limit = fmt.Sprintf(" LIMIT %d", maxRows+1)
	}
	return fmt.Sprintf("SELECT CASE WHEN strlen(CAST(COLUMNS(*) AS VARCHAR)) > %d THEN error('%s') ELSE COLUMNS(*) END FROM (\n%s\n) AS eventgrpc_query%s",
		query.MaxResultBytes, strings.ReplaceAll(cellLimitMessage, "'", "''"), code, limit)
}

// queryError classifies a failed query: the cell limit and the timeout
// are named; anything else the engine refused is the caller's fault.
func queryError(ctx context.Context, timeout time.Duration, err error) error {
	switch {
	case strings.Contains(err.Error(), cellLimitMessage):
		return fault.Permanentf("%s", cellLimitMessage)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fault.Permanentf("the query ran over %v, the query endpoint's timeout: %v", timeout, err)
	}
	return fault.Permanent(err)
}

// query runs query under the engine's guards alone.
func (s *Sink) query(ctx context.Context, q string, maxRows int) ([]string, [][]string, error) {
	timeout := s.cfg.QueryTimeout
	if timeout <= 0 {
		timeout = DefaultQueryTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if err := s.lockConfiguration(ctx); err != nil {
		return nil, nil, err
	}
	if _, err := s.reader.ExecContext(ctx, "BEGIN TRANSACTION READ ONLY"); err != nil {
		return nil, nil, fmt.Errorf("duckdb: begin read-only transaction: %w", err)
	}
	defer func() {
		if _, err := s.reader.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); err != nil {
			// The statement ended the guard transaction: the lexer let
			// through what it should not have. Loud, not silent.
			s.log.Error("query endpoint: the read-only transaction was not open at the end of a query", "err", err)
		}
	}()
	rows, err := s.reader.QueryContext(ctx, q)
	if err != nil {
		return nil, nil, queryError(ctx, timeout, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, nil, err
	}
	var out [][]string
	var budget query.ResultBudget
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if maxRows > 0 && len(out) >= maxRows {
			return cols, out, fault.Permanentf("result has more than %d rows; add a LIMIT", maxRows)
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, nil, queryError(ctx, timeout, err)
		}
		rec := make([]string, len(cols))
		for i, v := range vals {
			rec[i] = Text(v)
		}
		if err := budget.Add(rec); err != nil {
			return nil, nil, err
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, queryError(ctx, timeout, err)
	}
	return cols, out, nil
}

// Text renders a value the way clickhouse-client's TSV output does.
func Text(v any) string {
	switch x := v.(type) {
	case nil:
		return `\N`
	case time.Time:
		if x.Nanosecond() == 0 {
			return x.UTC().Format("2006-01-02 15:04:05")
		}
		return x.UTC().Format("2006-01-02 15:04:05.000")
	case []byte:
		return string(x)
	case bool:
		if x {
			return "1"
		}
		return "0"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = "'" + Text(e) + "'"
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	s := fmt.Sprint(v)
	return strings.NewReplacer("\\", "\\\\", "\t", "\\t", "\n", "\\n").Replace(s)
}

// ReadOnly refuses anything but one query statement: after comments and
// whitespace it must start with SELECT, WITH, SHOW, DESCRIBE (DESC),
// EXPLAIN, SUMMARIZE, FROM, VALUES or TABLE, and hold no second statement
// (a ';' outside literals and comments other than a trailing one). DuckDB
// reads SQL with PostgreSQL's lexical rules: '…' strings (a doubled quote
// for a quote; backslash escapes only in E'…'), "…" identifiers,
// $tag$…$tag$ dollar quotes, -- line comments and nested /* */ comments.
// EXPLAIN must explain a query (EXPLAIN ANALYZE runs its statement). The
// engine's guards (see Query) are the second line of defence.
//
// It also refuses a call of DuckDB's checkpoint() and force_checkpoint()
// table functions, the one thing a read-only transaction still runs that
// the engine offers no setting to switch off. The check is deliberately
// coarse: the name followed by "(" anywhere in the statement, literals
// and quoted identifiers included (so query('… checkpoint() …') and
// "checkpoint"() are refused too).
func ReadOnly(q string) error {
	code, err := syntax.Statement(q)
	if err != nil {
		return err
	}
	if m := checkpointCall.FindString(strings.ToLower(strings.ReplaceAll(code, `"`, ""))); m != "" {
		return fault.Permanentf("the query endpoint does not run %s…): it checkpoints the store", strings.TrimSpace(m))
	}
	return nil
}

// syntax is DuckDB's SQL as the query endpoint reads it.
var syntax = query.Syntax{
	Queries:        []string{"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "SUMMARIZE", "FROM", "VALUES", "TABLE"},
	EscapeStrings:  true,
	DollarQuotes:   true,
	NestedComments: true,
}

// checkpointCall matches a call of checkpoint() or force_checkpoint().
var checkpointCall = regexp.MustCompile(`\b(force_)?checkpoint\s*\(`)
