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
	"github.com/prometheus/client_golang/prometheus"

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
	// WriteTimeout bounds one Write (waiting for the writer included) when
	// its ctx has no deadline; default 2 minutes.
	WriteTimeout time.Duration
	// QueryTimeout bounds a query endpoint statement (default
	// DefaultQueryTimeout); see Query.
	QueryTimeout time.Duration
	Logger       *slog.Logger
	// Registerer takes the sink's metrics (sink.Metrics, sink="duckdb");
	// nil: unregistered.
	Registerer prometheus.Registerer
}

// Sink writes to a DuckDB file. DuckDB has one writer at a time, so writes
// are serialised on one connection; queries use another.
type Sink struct {
	log *slog.Logger
	db  *sql.DB
	cfg Config
	m   *sink.Metrics

	mu     sync.Mutex    // guards writer and staged; the writer connection is used by one Write at a time
	wsem   chan struct{} // held with mu by Write, so that waiting for the writer honours ctx
	writer *sql.Conn
	staged map[string]bool

	reader *sql.Conn
	rmu    sync.Mutex // guards reader and guard
	guard  queryGuard // see query.go

	closeOnce sync.Once
	closeErr  error
}

var _ sink.Sink = (*Sink)(nil)
var _ sink.Querier = (*Sink)(nil)

// Name is "duckdb", the sink label of its metrics.
func (s *Sink) Name() string { return "duckdb" }

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
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 2 * time.Minute
	}
	m, err := sink.NewMetrics(cfg.Registerer, "duckdb")
	if err != nil {
		return nil, fmt.Errorf("duckdb: metrics: %w", err)
	}
	db := sql.OpenDB(connector)
	s := &Sink{log: cfg.Logger, db: db, cfg: cfg, m: m, wsem: make(chan struct{}, 1), staged: map[string]bool{}}
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
	for _, t := range tables {
		if err := t.Validate(); err != nil {
			return fault.Permanent(fmt.Errorf("duckdb: %w", err))
		}
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.unlock()
	if s.writer == nil {
		return errors.New("duckdb: sink is closed")
	}
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

// lock takes the writer, or gives up when ctx ends first.
func (s *Sink) lock(ctx context.Context) error {
	select {
	case s.wsem <- struct{}{}:
		s.mu.Lock()
		return nil
	case <-ctx.Done():
		return fmt.Errorf("duckdb: waiting for the writer: %w", ctx.Err())
	}
}

func (s *Sink) unlock() {
	s.mu.Unlock()
	<-s.wsem
}

// Write implements sink.Sink. DuckDB has one writer: concurrent Writes
// queue for it, within their ctx (or WriteTimeout).
func (s *Sink) Write(ctx context.Context, b *schema.Batch) (err error) {
	if b.Len() == 0 {
		return nil
	}
	ctx, cancel := sink.WithDefaultTimeout(ctx, s.cfg.WriteTimeout)
	defer cancel()
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.unlock()
	if s.writer == nil {
		return errors.New("duckdb: sink is closed")
	}
	// A batch the database refuses for its data is split to find the rows
	// at fault, so one bad row never fails its neighbours.
	return s.m.Isolate(ctx, b, s.write)
}

// write stores rows. The fast path appends straight into the table; the
// table's primary key refuses a batch holding a key that is already stored
// (a redelivery) and then the batch goes the set-based way: staging table,
// then INSERT … ON CONFLICT DO NOTHING. Both are idempotent, so rows a
// failed append did commit are not stored twice.
func (s *Sink) write(ctx context.Context, b *schema.Batch) error {
	t := b.Table
	err := s.appendRows(ctx, t.Name, "", t.ColumnNames(), b)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("duckdb: append to %s: %w", t.Name, ctx.Err())
	}
	if !keyConflict(err) {
		return classify(fmt.Errorf("duckdb: append to %s: %w", t.Name, err))
	}
	return s.writeStaged(ctx, b)
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

// appendRows appends the rows of b with the Appender; catalog "temp"
// addresses a temporary table. ctx is checked every ctxEvery rows: the
// Appender itself does not take one.
//
// The Appender of duckdb-go v2.10506.0 takes rows only as driver.Values
// (AppendRow(...driver.Value)); its typed chunk writers are reachable from
// table and scalar functions only. So the values are boxed here, a block
// of ctxEvery rows at a time, column by column with one typed loop per
// column (see box), and written row by row.
func (s *Sink) appendRows(ctx context.Context, table, catalog string, cols []string, b *schema.Batch) error {
	return s.writer.Raw(func(dc any) error {
		app, err := duck.NewAppenderWithColumns(dc.(driver.Conn), catalog, "main", table, cols)
		if err != nil {
			return err
		}
		nc, n := len(b.Cols), b.Len()
		vals := make([]driver.Value, min(n, ctxEvery)*nc)
		for lo := 0; lo < n; lo += ctxEvery {
			if ctx.Err() != nil {
				app.CloseWithCancel(ctx) // a cancelled flush clears what was appended
				return ctx.Err()
			}
			hi := min(lo+ctxEvery, n)
			for c := range b.Cols {
				box(vals, nc, c, &b.Cols[c], lo, hi)
			}
			for r := range hi - lo {
				if err := app.AppendRow(vals[r*nc : (r+1)*nc]...); err != nil {
					app.CloseWithCancel(canceled)
					return appendErr(err)
				}
			}
		}
		// The flush, where DuckDB does the work, honours ctx too.
		return app.CloseWithCancel(ctx)
	})
}

// box stores rows [lo, hi) of column c into vals (nc values a row, from
// row lo at 0). A value equal to the row before's takes that row's box: a
// batch repeats many values (its insert time, event names, client ids),
// and each box of a string, a time or a list is an allocation.
func box(vals []driver.Value, nc, c int, col *schema.Col, lo, hi int) {
	switch col.Type {
	case schema.String, schema.JSON:
		boxRun(vals, nc, c, col.Str[lo:hi], func(a, b string) bool { return a == b })
	case schema.Int32:
		boxRun(vals, nc, c, col.I32[lo:hi], func(a, b int32) bool { return a == b })
	case schema.Int64:
		boxRun(vals, nc, c, col.I64[lo:hi], func(a, b int64) bool { return a == b })
	case schema.Float64:
		boxRun(vals, nc, c, col.F64[lo:hi], func(a, b float64) bool { return a == b })
	case schema.Bool:
		for r, v := range col.Bool[lo:hi] {
			vals[r*nc+c] = v // a bool box is static: no allocation
		}
	case schema.DateTime, schema.Date:
		boxRun(vals, nc, c, col.Time[lo:hi], func(a, b time.Time) bool { return a == b })
	case schema.Strings:
		boxRun(vals, nc, c, col.List[lo:hi], func(a, b []string) bool { return len(a) == 0 && len(b) == 0 })
	}
}

// boxRun boxes vs into vals (column c of rows of nc values), reusing the
// previous row's box while the value repeats.
func boxRun[T any](vals []driver.Value, nc, c int, vs []T, same func(a, b T) bool) {
	var prev driver.Value
	for r, v := range vs {
		if r > 0 && same(vs[r-1], v) {
			vals[r*nc+c] = prev
			continue
		}
		prev = v
		vals[r*nc+c] = prev
	}
}

// canceled is a done context: closing an Appender with it drops what was
// appended instead of flushing it.
var canceled = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// ctxEvery is how often (in rows) an append checks its ctx.
const ctxEvery = 1024

func (s *Sink) writeStaged(ctx context.Context, b *schema.Batch) error {
	t := b.Table
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
	if err := s.appendRows(ctx, stage, "temp", cols, b); err != nil {
		return classify(fmt.Errorf("duckdb: append to %s: %w", t.Name, err))
	}
	q := fmt.Sprintf(`INSERT INTO %s (%s) SELECT %s FROM %s ON CONFLICT DO NOTHING`,
		qualified(t), joinQuoted(cols), joinQuoted(cols), schema.QuoteIdent(stage))
	if _, err := s.writer.ExecContext(ctx, q); err != nil {
		return classify(fmt.Errorf("duckdb: insert into %s: %w", t.Name, err))
	}
	return nil
}

// appendErr classifies an error of Appender.AppendRow. The Appender hands
// DuckDB a full chunk of rows from within AppendRow, so an error DuckDB
// reports there (*duck.Error: an I/O error, out of memory, a constraint)
// is classified like any other; an error of the driver itself is the Go
// value not fitting its column (a cast, a column count): the row's data,
// permanent.
func appendErr(err error) error {
	var de *duck.Error
	if errors.As(err, &de) {
		return classify(err)
	}
	return fault.Permanent(err)
}

// classify marks data errors (conversion, constraint, invalid input, out
// of range) permanent, like the other sinks; I/O, a closed or interrupted
// database, out of memory and cancellation are transient (retried with
// backoff, never dead-lettered for it), as is anything unknown.
func classify(err error) error {
	if !sink.Unclassified(err) {
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
	// The Appender reports data errors as text when it closes (an error of
	// type Invalid: "Failed to append: NOT NULL constraint failed: …").
	msg := err.Error()
	for _, data := range []string{"constraint failed", "Constraint Error", "Conversion Error", "Invalid Input Error", "Invalid unicode", "Out of Range Error"} {
		if strings.Contains(msg, data) {
			return fault.Permanent(err)
		}
	}
	return fault.Transient(err)
}

func joinQuoted(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = schema.QuoteIdent(n)
	}
	return strings.Join(q, ", ")
}

// Close implements sink.Sink.
func (s *Sink) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.wsem <- struct{}{} // waits for a Write in progress
		s.mu.Lock()
		defer func() { s.mu.Unlock(); <-s.wsem }()
		s.rmu.Lock()
		defer s.rmu.Unlock()
		s.closeErr = errors.Join(s.writer.Close(), s.reader.Close(), s.db.Close())
		s.writer = nil
	})
	return s.closeErr
}
