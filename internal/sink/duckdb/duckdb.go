package duckdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	duck "github.com/duckdb/duckdb-go/v2"

	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/sink"
)

// Config configures the embedded store.
type Config struct {
	// Path of the database file; ":memory:" for tests.
	Path string
	// MemoryLimit bounds DuckDB's buffer pool (DUCKDB_MEMORY_LIMIT, e.g.
	// "1GB"); DuckDB's own default is 80% of the machine's memory.
	MemoryLimit string
	// CheckpointThreshold is the write-ahead log size at which DuckDB
	// checkpoints (DUCKDB_CHECKPOINT_THRESHOLD, e.g. "128MB"; DuckDB's own
	// default is 16MB). Each checkpoint rewrites the table's last, partly
	// filled row group, so at DuckDB's default a steady stream of batches
	// spends ~40% of its write time checkpointing; a larger log costs a
	// longer replay at start and memory for the rows not yet checkpointed.
	CheckpointThreshold string
	Logger              *slog.Logger
}

// Sink writes to a DuckDB file. DuckDB has one writer at a time, so writes
// are serialised on one connection; queries use another.
type Sink struct {
	log *slog.Logger
	db  *sql.DB

	mu     sync.Mutex // guards writer and staged; the writer connection is used by one Write at a time
	writer *sql.Conn
	staged map[string]bool

	reader *sql.Conn
	rmu    sync.Mutex

	closeOnce sync.Once
	closeErr  error
}

var _ sink.Sink = (*Sink)(nil)
var _ sink.Querier = (*Sink)(nil)

// New opens (or creates) the database file.
func New(ctx context.Context, cfg Config) (*Sink, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// The store reads and writes its own file only: no reading of other
	// files through the query endpoint, no extension downloads.
	dsn := cfg.Path + "?enable_external_access=false&autoinstall_known_extensions=false&autoload_known_extensions=false"
	if cfg.MemoryLimit != "" {
		dsn += "&memory_limit=" + url.QueryEscape(cfg.MemoryLimit)
	}
	if cfg.CheckpointThreshold != "" {
		dsn += "&checkpoint_threshold=" + url.QueryEscape(cfg.CheckpointThreshold)
	}
	connector, err := duck.NewConnector(dsn, nil)
	if err != nil {
		return nil, fmt.Errorf("duckdb: open %s: %w", cfg.Path, err)
	}
	db := sql.OpenDB(connector)
	s := &Sink{log: cfg.Logger, db: db, staged: map[string]bool{}}
	if s.writer, err = db.Conn(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("duckdb: %w", err)
	}
	if s.reader, err = db.Conn(ctx); err != nil {
		s.writer.Close()
		db.Close()
		return nil, fmt.Errorf("duckdb: %w", err)
	}
	return s, nil
}

func qualified(t *schema.Table) string { return schema.QuoteIdent(t.Name) }

// Migrate implements sink.Sink.
func (s *Sink) Migrate(ctx context.Context, tables []*schema.Table) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range tables {
		if _, err := s.writer.ExecContext(ctx, schema.DuckDB.CreateTable(t, qualified(t))); err != nil {
			return fmt.Errorf("duckdb: create table %s: %w", t.Name, err)
		}
		have := map[string]bool{}
		rows, err := s.writer.QueryContext(ctx, `SELECT column_name FROM information_schema.columns WHERE table_name = ? AND table_schema = 'main'`, t.Name)
		if err != nil {
			return fmt.Errorf("duckdb: columns of %s: %w", t.Name, err)
		}
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return err
			}
			have[n] = true
		}
		if err := rows.Close(); err != nil {
			return err
		}
		for _, c := range t.Columns {
			if have[c.Name] {
				continue
			}
			if _, err := s.writer.ExecContext(ctx, schema.DuckDB.AddColumn(qualified(t), c)); err != nil {
				return fmt.Errorf("duckdb: add column %s.%s: %w", t.Name, c.Name, err)
			}
			s.log.Info("added column", "table", t.Name, "column", c.Name)
		}
		delete(s.staged, t.Name) // the table's shape may have changed
	}
	return nil
}

// Write implements sink.Sink.
func (s *Sink) Write(ctx context.Context, t *schema.Table, rows []schema.Row) error {
	if len(rows) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// A batch the database refuses for its data is split to find the rows
	// at fault, so one bad row never fails its neighbours.
	return sink.Isolate(ctx, rows, func(ctx context.Context, part []schema.Row) error {
		return s.write(ctx, t, part)
	}, sink.SplitBudget)
}

// write stores rows. The fast path appends straight into the table; the
// table's primary key refuses a batch holding a key that is already stored
// (a redelivery) and then the batch goes the set-based way: staging table,
// then INSERT … ON CONFLICT DO NOTHING. Both are idempotent, so rows a
// failed append did commit are not stored twice.
func (s *Sink) write(ctx context.Context, t *schema.Table, rows []schema.Row) error {
	err := s.appendRows(ctx, t.Name, "", t.ColumnNames(), rows)
	if err == nil {
		return nil
	}
	if !keyConflict(err) {
		return classify(fmt.Errorf("duckdb: append to %s: %w", t.Name, err))
	}
	return s.writeStaged(ctx, t, rows)
}

// keyConflict reports whether an append failed on the primary key. The
// Appender reports it as text when it closes, not as a typed error.
func keyConflict(err error) bool {
	var de *duck.Error
	if errors.As(err, &de) && de.Type == duck.ErrorTypeConstraint {
		return true
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "primary key") || strings.Contains(msg, "constraint violation")
}

// appendRows appends rows with the Appender; catalog "temp" addresses a
// temporary table.
func (s *Sink) appendRows(ctx context.Context, table, catalog string, cols []string, rows []schema.Row) error {
	return s.writer.Raw(func(dc any) error {
		app, err := duck.NewAppenderWithColumns(dc.(driver.Conn), catalog, "main", table, cols)
		if err != nil {
			return err
		}
		vals := make([]driver.Value, len(cols))
		for _, r := range rows {
			for i := range r {
				vals[i] = r[i]
			}
			if err := app.AppendRow(vals...); err != nil {
				app.Close()
				return fault.Permanent(err)
			}
		}
		return app.Close()
	})
}

func (s *Sink) writeStaged(ctx context.Context, t *schema.Table, rows []schema.Row) error {
	stage := "stage_" + t.Name
	if !s.staged[t.Name] {
		q := fmt.Sprintf(`CREATE OR REPLACE TEMP TABLE %s AS SELECT * FROM %s LIMIT 0`, schema.QuoteIdent(stage), qualified(t))
		if _, err := s.writer.ExecContext(ctx, q); err != nil {
			return classify(fmt.Errorf("duckdb: staging table for %s: %w", t.Name, err))
		}
		s.staged[t.Name] = true
	}
	if _, err := s.writer.ExecContext(ctx, `DELETE FROM `+schema.QuoteIdent(stage)); err != nil {
		return classify(fmt.Errorf("duckdb: clear staging for %s: %w", t.Name, err))
	}
	cols := t.ColumnNames()
	if err := s.appendRows(ctx, stage, "temp", cols, rows); err != nil {
		return classify(fmt.Errorf("duckdb: append to %s: %w", t.Name, err))
	}
	q := fmt.Sprintf(`INSERT INTO %s (%s) SELECT %s FROM %s ON CONFLICT DO NOTHING`,
		qualified(t), joinQuoted(cols), joinQuoted(cols), schema.QuoteIdent(stage))
	if _, err := s.writer.ExecContext(ctx, q); err != nil {
		return classify(fmt.Errorf("duckdb: insert into %s: %w", t.Name, err))
	}
	return nil
}

// classify marks data errors permanent; everything else (I/O, a closed
// database, cancellation) stays transient.
func classify(err error) error {
	if fault.IsPermanent(err) {
		return err
	}
	var de *duck.Error
	if errors.As(err, &de) {
		switch de.Type {
		case duck.ErrorTypeConversion, duck.ErrorTypeMismatchType, duck.ErrorTypeInvalidInput,
			duck.ErrorTypeOutOfRange, duck.ErrorTypeConstraint, duck.ErrorTypeInvalidType:
			return fault.Permanent(err)
		}
	}
	return err
}

func joinQuoted(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = schema.QuoteIdent(n)
	}
	return strings.Join(q, ", ")
}

// Query implements sink.Querier: one read-only statement.
func (s *Sink) Query(ctx context.Context, query string, maxRows int) ([]string, [][]string, error) {
	if err := ReadOnly(query); err != nil {
		return nil, nil, err
	}
	s.rmu.Lock()
	defer s.rmu.Unlock()
	// Run inside a transaction that is always rolled back, as a second line of
	// defence behind ReadOnly.
	tx, err := s.reader.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, query)
	if err != nil {
		return nil, nil, fault.Permanent(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, nil, err
	}
	var out [][]string
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
			return nil, nil, err
		}
		rec := make([]string, len(cols))
		for i, v := range vals {
			rec[i] = Text(v)
		}
		out = append(out, rec)
	}
	return cols, out, rows.Err()
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
// A transaction that is always rolled back is the second line of defence.
func ReadOnly(q string) error {
	_, err := sink.QuerySyntax{
		Queries:        []string{"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "SUMMARIZE", "FROM", "VALUES", "TABLE"},
		EscapeStrings:  true,
		DollarQuotes:   true,
		NestedComments: true,
	}.Statement(q)
	return err
}

// Close implements sink.Sink.
func (s *Sink) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.rmu.Lock()
		defer s.rmu.Unlock()
		s.closeErr = errors.Join(s.writer.Close(), s.reader.Close(), s.db.Close())
	})
	return s.closeErr
}
