package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/sink"
)

// Config configures the PostgreSQL sink.
type Config struct {
	Host     string // default 127.0.0.1
	Port     int    // default 5432
	User     string // default postgres
	Password string
	DB       string // database, default postgres
	// Schema holds the tables (POSTGRES_EVENT_SCHEMA, default "public").
	// Unqualified names in Query resolve there first.
	Schema string
	// SSLMode is libpq's sslmode (default "prefer": TLS when the server
	// offers it); verify-full with SSLRootCert checks the server's
	// certificate and name.
	SSLMode string
	// SSLRootCert is libpq's sslrootcert: the CA file that signs the
	// server's certificate.
	SSLRootCert string
	// URL, when set, is a libpq connection URL or keyword string
	// (postgres://user:pass@host:port/db?sslmode=verify-full&sslrootcert=…)
	// that replaces Host, Port, User, DB, SSLMode and SSLRootCert; its
	// sslmode is taken as it is. Password, when set, wins over the URL's.
	URL        string
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: no metrics
	// MaxConns bounds the pool (default 20); MinConns connections are kept
	// open (default 10).
	MaxConns, MinConns int32
	// ConnectTimeout bounds connecting (default 5s); WriteTimeout bounds a
	// Write whose context has no deadline (default 2m), and is the
	// server-side statement timeout of its statements.
	ConnectTimeout, WriteTimeout time.Duration
}

func (c Config) withDefaults() Config {
	c.Host = cmp.Or(c.Host, "127.0.0.1")
	c.Port = cmp.Or(c.Port, 5432)
	c.User = cmp.Or(c.User, "postgres")
	c.DB = cmp.Or(c.DB, "postgres")
	c.Schema = cmp.Or(c.Schema, "public")
	c.SSLMode = cmp.Or(c.SSLMode, "prefer")
	c.Logger = cmp.Or(c.Logger, slog.Default())
	// A negative bound is no bound given: the default.
	c.MaxConns = cmp.Or(max(c.MaxConns, 0), 20)
	c.MinConns = min(cmp.Or(max(c.MinConns, 0), 10), c.MaxConns)
	c.ConnectTimeout = cmp.Or(max(c.ConnectTimeout, 0), 5*time.Second)
	c.WriteTimeout = cmp.Or(max(c.WriteTimeout, 0), 2*time.Minute)
	return c
}

// Validate reports configuration errors.
func (c *Config) Validate() error {
	var errs []error
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("postgres: port %d out of range", c.Port))
	}
	if c.MaxConns > 1000 {
		errs = append(errs, fmt.Errorf("postgres: max conns %d is more than a server takes", c.MaxConns))
	}
	return errors.Join(errs...)
}

// Sink writes to PostgreSQL. Safe for concurrent use; the pool replaces
// broken connections by itself.
type Sink struct {
	cfg  Config
	log  *slog.Logger
	pool *pgxpool.Pool
	m    *sink.Metrics

	closeOnce sync.Once
	closed    chan struct{} // closed once the pool is
}

var (
	_ sink.Sink    = (*Sink)(nil)
	_ sink.Querier = (*Sink)(nil)
)

// New opens the pool and checks that the server answers. An unreachable
// server is a transient error; the caller may try again.
func New(ctx context.Context, cfg Config) (*Sink, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := sink.NewMetrics(cfg.Registerer, "postgres")
	if err != nil {
		return nil, fmt.Errorf("postgres: metrics: %w", err)
	}
	dsn := cfg.URL
	if dsn == "" {
		dsn = fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=%s",
			connValue(cfg.Host), cfg.Port, connValue(cfg.User), connValue(cfg.DB), connValue(cfg.SSLMode))
		if cfg.SSLRootCert != "" {
			dsn += " sslrootcert=" + connValue(cfg.SSLRootCert)
		}
	}
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx redacts the password in its message.
		return nil, fault.Permanent(fmt.Errorf("postgres: the connection settings (POSTGRES_URL or POSTGRES_*) do not parse: %w", err))
	}
	cc := pc.ConnConfig
	if cfg.Password != "" || cfg.URL == "" {
		cc.Password = cfg.Password
	}
	cc.ConnectTimeout = cfg.ConnectTimeout
	cc.RuntimeParams["application_name"] = "event-grpc"
	cc.RuntimeParams["search_path"] = quoteIdentList(cfg.Schema, "public")
	pc.MaxConns = cfg.MaxConns
	pc.MinConns = cfg.MinConns
	pc.MaxConnIdleTime = 10 * time.Minute
	pc.HealthCheckPeriod = 30 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect %s:%d/%s: %w", cfg.Host, cfg.Port, cfg.DB, classify(err))
	}
	var version string
	if err := pool.QueryRow(pctx, "SHOW server_version").Scan(&version); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: server version: %w", classify(err))
	}
	cfg.Logger.Info("postgres connected", "addr", cfg.Host+":"+strconv.Itoa(cfg.Port), "db", cfg.DB,
		"schema", cfg.Schema, "version", version)
	return &Sink{cfg: cfg, log: cfg.Logger, pool: pool, m: m, closed: make(chan struct{})}, nil
}

// connValue quotes a value of a keyword/value connection string.
func connValue(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

func quoteIdentList(names ...string) string {
	out := ""
	for i, n := range names {
		if i > 0 {
			out += ", "
		}
		out += schema.QuoteIdent(n)
	}
	return out
}

func (s *Sink) qualified(t *schema.Table) string { return schema.Qualify(s.cfg.Schema, t.Name) }

// migrationLock is the advisory lock key that serialises migrations of
// several instances starting at once (CREATE TABLE IF NOT EXISTS races in
// PostgreSQL).
const migrationLock = 0x6576656e74677270 // "eventgrp"

// Migrate implements sink.Sink: in one transaction, under an advisory lock,
// it creates the schema, the missing tables and the declared columns a
// table lacks. A column whose type differs from its declaration is logged,
// not changed.
func (s *Sink) Migrate(ctx context.Context, tables []*schema.Table) error {
	for _, t := range tables {
		if err := t.Validate(); err != nil {
			return fault.Permanent(err)
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLock)); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema.QuoteIdent(s.cfg.Schema)); err != nil {
			return fmt.Errorf("create schema %s: %w", s.cfg.Schema, err)
		}
		for _, t := range tables {
			if err := s.migrateTable(ctx, tx, t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", classify(err))
	}
	return nil
}

func (s *Sink) migrateTable(ctx context.Context, tx pgx.Tx, t *schema.Table) error {
	q := s.qualified(t)
	if _, err := tx.Exec(ctx, schema.Postgres.CreateTable(t, q)); err != nil {
		return fmt.Errorf("create table %s: %w", q, err)
	}
	have, err := columns(ctx, tx, s.cfg.Schema, t.Name)
	if err != nil {
		return err
	}
	for _, c := range t.Columns {
		want := schema.Postgres.ColumnType(c.Type)
		got, ok := have[c.Name]
		if ok {
			if canonicalType(got) != canonicalType(want) {
				s.log.Warn("postgres column type differs from its declaration",
					"table", q, "column", c.Name, "type", got, "declared", want)
			}
			continue
		}
		if _, err := tx.Exec(ctx, schema.Postgres.AddColumn(q, c)); err != nil {
			return fmt.Errorf("add column %s.%s: %w", q, c.Name, err)
		}
		s.log.Info("postgres column added", "table", q, "column", c.Name, "type", want)
	}
	return nil
}

// canonicalType maps the dialect's spelling to format_type's.
func canonicalType(t string) string {
	switch t {
	case "timestamptz":
		return "timestamp with time zone"
	}
	return t
}

// columns returns a table's column names and types (format_type spelling).
func columns(ctx context.Context, tx pgx.Tx, schemaName, table string) (map[string]string, error) {
	rows, err := tx.Query(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod)
		FROM pg_attribute a
		JOIN pg_class c ON c.oid = a.attrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped`, schemaName, table)
	if err != nil {
		return nil, fmt.Errorf("columns of %s.%s: %w", schemaName, table, err)
	}
	out := map[string]string{}
	var name, typ string
	_, err = pgx.ForEachRow(rows, []any{&name, &typ}, func() error {
		out[name] = typ
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("columns of %s.%s: %w", schemaName, table, err)
	}
	return out, nil
}

// Close implements sink.Sink: it waits for connections in use to be
// returned, then closes them. Safe to call twice. The pool's Close has no
// deadline; Close returns ctx's error if ctx ends first (the pool finishes
// closing in the background).
func (s *Sink) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		go func() {
			s.pool.Close()
			close(s.closed)
		}()
	})
	select {
	case <-s.closed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
