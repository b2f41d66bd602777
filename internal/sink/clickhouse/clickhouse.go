package clickhouse

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/sink"
)

// Config configures the ClickHouse sink.
type Config struct {
	Host string // default 127.0.0.1
	Port int    // native protocol port, default 9000
	// Addrs, when set, are host:port (native protocol) of several
	// servers, the replicas of a cluster: connections go to the first
	// that answers, in order, and move on when one fails. Host and Port
	// are then ignored.
	Addrs []string
	// Cluster names a remote_servers entry of the servers'
	// configuration: tables are created ON CLUSTER as replicated tables
	// behind Distributed ones (see schema.ClickHouseCluster), and inserts
	// go through the Distributed table synchronously.
	Cluster string
	// TLS, when set, connects over TLS (the servers' secure native port).
	TLS      *tls.Config
	User     string // default "default"
	Password string
	// Databases are CLICKHOUSE_DB_NAMES. Migrate creates each; tables that
	// name no Database go to the first.
	Databases []string
	Logger    *slog.Logger
	// Registerer receives the sink's metrics; nil registers none.
	Registerer prometheus.Registerer
	// MaxOpenConns bounds the connection pool (default 10).
	MaxOpenConns int
	// DialTimeout bounds connecting (default 5s); ReadTimeout bounds each
	// wait for the server (default 60s); WriteTimeout bounds a Write whose
	// context has no deadline (default 2m), so a Write never hangs forever.
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
	// NoCompression turns LZ4 block compression off.
	NoCompression bool
	// TTLDays (CLICKHOUSE_TTL) gives every time-partitioned table a TTL
	// deleting rows older than this many days; Migrate sets it on existing
	// tables too. It needs ClickHouse 19.6 or later: Migrate fails on an
	// older server rather than keep data it was told to delete. 0: none.
	TTLDays int
}

func (c Config) withDefaults() Config {
	c.Host = cmp.Or(c.Host, "127.0.0.1")
	c.Port = cmp.Or(c.Port, 9000)
	c.User = cmp.Or(c.User, "default")
	c.Logger = cmp.Or(c.Logger, slog.Default())
	// A negative bound is no bound given: the default.
	c.MaxOpenConns = cmp.Or(max(c.MaxOpenConns, 0), 10)
	c.DialTimeout = cmp.Or(max(c.DialTimeout, 0), 5*time.Second)
	c.ReadTimeout = cmp.Or(max(c.ReadTimeout, 0), 60*time.Second)
	c.WriteTimeout = cmp.Or(max(c.WriteTimeout, 0), 2*time.Minute)
	return c
}

// Validate reports configuration errors.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Databases) == 0 {
		errs = append(errs, errors.New("clickhouse: CLICKHOUSE_DB_NAMES: at least one database is needed"))
	}
	for _, d := range c.Databases {
		if d == "" {
			errs = append(errs, errors.New("clickhouse: CLICKHOUSE_DB_NAMES: empty database name"))
		}
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("clickhouse: port %d out of range", c.Port))
	}
	return errors.Join(errs...)
}

// Version is the server's version.
type Version struct{ Major, Minor, Patch uint64 }

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// AtLeast reports whether v is major.minor or newer.
func (v Version) AtLeast(major, minor uint64) bool {
	return v.Major > major || (v.Major == major && v.Minor >= minor)
}

// Sink writes to ClickHouse. Safe for concurrent use; connections come from
// the driver's pool, which reconnects by itself.
type Sink struct {
	cfg     Config
	log     *slog.Logger
	conn    driver.Conn
	version Version
	m       *sink.Metrics

	closeOnce sync.Once
	closeErr  error
}

var (
	_ sink.Sink    = (*Sink)(nil)
	_ sink.Querier = (*Sink)(nil)
)

// maxIdleConns bounds the pooled connections kept between inserts, and so
// the insert buffers they keep: each holds up to about two inserts' bytes
// (CLICKHOUSE_INSERT_BYTES, 32 MiB by default: the block and its LZ4
// form). One writer per table makes inserts few and mostly sequential; a
// connection beyond these is closed when its insert ends.
const maxIdleConns = 2

// New connects to the server and reads its version. An unreachable server
// is a transient error; the caller may try again.
func New(ctx context.Context, cfg Config) (*Sink, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := sink.NewMetrics(cfg.Registerer, "clickhouse")
	if err != nil {
		return nil, fmt.Errorf("clickhouse: metrics: %w", err)
	}
	addrs := cfg.Addrs
	if len(addrs) == 0 {
		addrs = []string{net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))}
	}
	opts := &ch.Options{
		Addr:             addrs,
		ConnOpenStrategy: ch.ConnOpenInOrder,
		TLS:              cfg.TLS,
		Auth: ch.Auth{
			Database: "default",
			Username: cfg.User,
			Password: cfg.Password,
		},
		DialTimeout:     cfg.DialTimeout,
		ReadTimeout:     cfg.ReadTimeout,
		MaxOpenConns:    cfg.MaxOpenConns,
		MaxIdleConns:    min(maxIdleConns, cfg.MaxOpenConns),
		ConnMaxLifetime: time.Hour,
		// An idle connection keeps the buffers of its largest insert (the
		// block and its compressed form) for the next one: freeing them
		// after every insert (FreeBufOnConnRelease) cost 1.7× the
		// process's CPU per row landed, growing them again each time.
		// What is kept is bounded by maxIdleConns.
		FreeBufOnConnRelease: false,
	}
	if !cfg.NoCompression {
		opts.Compression = &ch.Compression{Method: ch.CompressionLZ4}
	}
	cctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout+cfg.ReadTimeout)
	defer cancel()
	// The pool's default database (the first configured; what unqualified
	// names in Query mean) must exist before a connection can select it, so
	// a first connection to "default" creates the configured databases.
	boot, err := ch.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: %w", err)
	}
	version, err := bootstrap(cctx, boot, cfg.Databases, cfg.Cluster)
	if cerr := boot.Close(); err == nil && cerr != nil {
		err = classify(cerr)
	}
	if err != nil {
		return nil, fmt.Errorf("clickhouse: connect %s: %w", opts.Addr[0], err)
	}
	opts.Auth.Database = cfg.Databases[0]
	conn, err := ch.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: %w", err)
	}
	if err := conn.Ping(cctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("clickhouse: connect %s: %w", opts.Addr[0], classify(err))
	}
	s := &Sink{cfg: cfg, log: cfg.Logger, conn: conn, m: m, version: version}
	s.log.Info("clickhouse connected", "addr", opts.Addr[0], "version", version.String(), "databases", cfg.Databases)
	return s, nil
}

// bootstrap reads the server version and creates the databases.
func bootstrap(ctx context.Context, conn driver.Conn, dbs []string, cluster string) (Version, error) {
	if err := conn.Ping(ctx); err != nil {
		return Version{}, classify(err)
	}
	sv, err := conn.ServerVersion()
	if err != nil {
		return Version{}, classify(err)
	}
	for _, db := range dbs {
		if err := conn.Exec(ctx, createDatabase(db, cluster)); err != nil {
			return Version{}, fmt.Errorf("create database %s: %w", db, classify(err))
		}
	}
	return Version{sv.Version.Major, sv.Version.Minor, sv.Version.Patch}, nil
}

// createDatabase renders CREATE DATABASE, on every host of cluster when
// one is named.
func createDatabase(db, cluster string) string {
	q := "CREATE DATABASE IF NOT EXISTS " + schema.QuoteIdent(db)
	if cluster != "" {
		q += " ON CLUSTER " + schema.QuoteIdent(cluster)
	}
	return q
}

// ServerVersion is the version the server reported at connect.
func (s *Sink) ServerVersion() Version { return s.version }

// database is where t lives.
func (s *Sink) database(t *schema.Table) string {
	if t.Database != "" {
		return t.Database
	}
	return s.cfg.Databases[0]
}

func (s *Sink) qualified(t *schema.Table) string { return schema.Qualify(s.database(t), t.Name) }

// Migrate implements sink.Sink: it creates the configured databases and
// those the tables name, creates missing tables and adds the declared
// columns a table lacks. A column whose type differs from its declaration
// is logged, not changed.
func (s *Sink) Migrate(ctx context.Context, tables []*schema.Table) error {
	dbs := append([]string{}, s.cfg.Databases...)
	for _, t := range tables {
		if err := t.Validate(); err != nil {
			return fault.Permanent(err)
		}
		dbs = append(dbs, s.database(t))
	}
	seen := map[string]bool{}
	for _, db := range dbs {
		if seen[db] {
			continue
		}
		seen[db] = true
		if err := s.conn.Exec(ctx, createDatabase(db, s.cfg.Cluster)); err != nil {
			return fmt.Errorf("clickhouse: create database %s: %w", db, classify(err))
		}
	}
	for _, t := range tables {
		if err := s.migrateTable(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sink) migrateTable(ctx context.Context, t *schema.Table) error {
	q := s.qualified(t)
	if s.cfg.TTLDays > 0 && !s.version.AtLeast(19, 6) {
		return fault.Permanent(fmt.Errorf("clickhouse: CLICKHOUSE_TTL needs ClickHouse 19.6 or later (table TTL); the server is %s: "+
			"unset it and drop old monthly partitions instead (ALTER TABLE … DROP PARTITION YYYYMM)", s.version))
	}
	if s.cfg.Cluster != "" {
		return s.migrateClusterTable(ctx, t)
	}
	if err := s.conn.Exec(ctx, schema.ClickHouseTTL(s.cfg.TTLDays).CreateTable(t, q)); err != nil {
		return fmt.Errorf("clickhouse: create table %s: %w", q, classify(err))
	}
	if err := s.migrateTTL(ctx, t, q); err != nil {
		return err
	}
	have, err := s.columns(ctx, s.database(t), t.Name)
	if err != nil {
		return err
	}
	for _, c := range t.Columns {
		want := schema.ClickHouse.ColumnType(c.Type)
		got, ok := have[c.Name]
		if ok {
			if got != want {
				s.log.Warn("clickhouse column type differs from its declaration",
					"table", q, "column", c.Name, "type", got, "declared", want)
			}
			continue
		}
		// 18.16 has no ADD COLUMN IF NOT EXISTS: a concurrent migration may
		// add the column first, which is fine.
		if err := s.conn.Exec(ctx, schema.ClickHouse.AddColumn(q, c)); err != nil {
			if now, cerr := s.columns(ctx, s.database(t), t.Name); cerr == nil && now[c.Name] != "" {
				continue
			}
			return fmt.Errorf("clickhouse: add column %s.%s: %w", q, c.Name, classify(err))
		}
		s.log.Info("clickhouse column added", "table", q, "column", c.Name, "type", want)
	}
	return nil
}

// migrateClusterTable creates t's replicated and Distributed tables on
// every host of the cluster and adds the declared columns they lack (to
// both, ON CLUSTER).
func (s *Sink) migrateClusterTable(ctx context.Context, t *schema.Table) error {
	db := s.database(t)
	local, dist := schema.ClickHouseCluster(t, db, s.cfg.Cluster)
	for _, stmt := range []string{local, dist} {
		if err := s.conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("clickhouse: create table %s on cluster %s: %w", s.qualified(t), s.cfg.Cluster, classify(err))
		}
	}
	localName := t.Name + schema.ClickHouseLocalSuffix
	if err := s.addClusterColumns(ctx, t, db, localName); err != nil {
		return err
	}
	// A Distributed table holds no rows and takes its columns from the
	// local table when created; ClickHouse refuses ALTER … ON CLUSTER on
	// it (it is not replicated, its shards are), so one that lacks a
	// column is created again.
	have, err := s.columns(ctx, db, t.Name)
	if err != nil {
		return err
	}
	for _, c := range t.Columns {
		if _, ok := have[c.Name]; ok {
			continue
		}
		q := schema.Qualify(db, t.Name)
		if err := s.conn.Exec(ctx, "DROP TABLE IF EXISTS "+q+" ON CLUSTER "+schema.QuoteIdent(s.cfg.Cluster)); err != nil {
			return fmt.Errorf("clickhouse: recreate %s on cluster %s: %w", q, s.cfg.Cluster, classify(err))
		}
		if err := s.conn.Exec(ctx, dist); err != nil {
			return fmt.Errorf("clickhouse: recreate %s on cluster %s: %w", q, s.cfg.Cluster, classify(err))
		}
		s.log.Info("clickhouse distributed table recreated with new columns", "table", q, "cluster", s.cfg.Cluster)
		break
	}
	return nil
}

// addClusterColumns adds the declared columns the replicated table name
// lacks, ON CLUSTER.
func (s *Sink) addClusterColumns(ctx context.Context, t *schema.Table, db, name string) error {
	have, err := s.columns(ctx, db, name)
	if err != nil {
		return err
	}
	for _, c := range t.Columns {
		if _, ok := have[c.Name]; ok {
			continue
		}
		q := schema.Qualify(db, name)
		if err := s.conn.Exec(ctx, schema.ClickHouseAddColumnOnCluster(q, s.cfg.Cluster, c)); err != nil {
			if now, cerr := s.columns(ctx, db, name); cerr == nil && now[c.Name] != "" {
				continue
			}
			return fmt.Errorf("clickhouse: add column %s.%s on cluster %s: %w", q, c.Name, s.cfg.Cluster, classify(err))
		}
		s.log.Info("clickhouse column added", "table", q, "column", c.Name, "cluster", s.cfg.Cluster)
	}
	return nil
}

// migrateTTL sets the configured TTL on a table created before it (or with
// another number of days). The table's engine_full shows the TTL as the
// server normalised it, `… + toIntervalDay(N)`.
func (s *Sink) migrateTTL(ctx context.Context, t *schema.Table, q string) error {
	ttl := schema.ClickHouseTTLClause(t, s.cfg.TTLDays)
	if ttl == "" {
		return nil
	}
	var engine string
	row := s.conn.QueryRow(ctx, "SELECT engine_full FROM system.tables WHERE database = ? AND name = ?", s.database(t), t.Name)
	if err := row.Scan(&engine); err != nil {
		return fmt.Errorf("clickhouse: engine of %s: %w", q, classify(err))
	}
	if strings.Contains(engine, fmt.Sprintf("TTL %s + toIntervalDay(%d)", t.PartitionBy, s.cfg.TTLDays)) {
		return nil
	}
	if err := s.conn.Exec(ctx, "ALTER TABLE "+q+" MODIFY TTL "+ttl); err != nil {
		return fmt.Errorf("clickhouse: set TTL of %s: %w", q, classify(err))
	}
	s.log.Info("clickhouse table TTL set", "table", q, "ttl", ttl)
	return nil
}

// columns returns the table's column names and types.
func (s *Sink) columns(ctx context.Context, db, table string) (map[string]string, error) {
	rows, err := s.conn.Query(ctx, "SELECT name, type FROM system.columns WHERE database = ? AND table = ?", db, table)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: columns of %s.%s: %w", db, table, classify(err))
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, fmt.Errorf("clickhouse: columns of %s.%s: %w", db, table, classify(err))
		}
		out[name] = typ
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: columns of %s.%s: %w", db, table, classify(err))
	}
	return out, nil
}

// Close implements sink.Sink. Safe to call twice.
func (s *Sink) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { s.closeErr = s.conn.Close() })
	return s.closeErr
}
