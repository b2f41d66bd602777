package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/joho/godotenv"

	"github.com/event-grpc/event-grpc/internal/auth"
	"github.com/event-grpc/event-grpc/internal/broker/jetstream"
	"github.com/event-grpc/event-grpc/internal/dedupe"
	"github.com/event-grpc/event-grpc/internal/ingest/webhook"
	"github.com/event-grpc/event-grpc/internal/landing"
	"github.com/event-grpc/event-grpc/internal/ratelimit"
	"github.com/event-grpc/event-grpc/internal/sink"
	"github.com/event-grpc/event-grpc/internal/sink/webengage"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// Config is everything the service is configured by.
type Config struct {
	// Env is the deployment environment (ENV): local, stage, production…
	Env string
	// DataDir holds the embedded broker's and store's files (DATA_DIR).
	DataDir string
	// MemoryLimit is the process's memory budget in bytes (MEMORY_LIMIT,
	// e.g. 512MiB, 4GiB; 0: none; default 90% of the container's limit,
	// else a quarter of the machine's memory, at most 768 MiB). The
	// embedded store's buffer pool, the Go heap's soft limit, the ingest
	// and landing byte budgets, the in-process dedupe window and the
	// embedded broker's per-stream buffer are carved from it unless their
	// own settings (DUCKDB_MEMORY_LIMIT, GOMEMLIMIT, …) set them.
	MemoryLimit int64
	// MemoryLimitFrom says where MemoryLimit came from: "MEMORY_LIMIT",
	// "container limit", "physical memory / 4" or "default cap".
	MemoryLimitFrom string
	// LandingMaxInflightBytes bounds, per sink, the message bytes whose
	// rows are being built and written at once (LANDING_MAX_INFLIGHT_BYTES).
	LandingMaxInflightBytes int64
	// GoMemoryLimit is the Go heap's soft limit the service sets at start
	// (runtime/debug.SetMemoryLimit); 0: leave the runtime's (GOMEMLIMIT
	// was set, or there is no budget).
	GoMemoryLimit int64

	// TLS serves both ports over TLS (TLS_CERT_FILE, TLS_KEY_FILE; the
	// pair is read again when the files change) and, with
	// TLS_CLIENT_CA_FILE, requires client certificates signed by its CAs.
	TLS TLS
	// ListenAddr is the host or IP address both ports bind (LISTEN_ADDR).
	// Empty: every interface, except with AUTH_MODE=off, where the ports
	// bind loopback (127.0.0.1) so an open service is not on the network
	// by accident; LISTEN_ADDR=0.0.0.0 opens it.
	ListenAddr string

	GRPC     GRPC
	HTTP     HTTP
	Pipeline Pipeline
	Broker   Broker
	Sink     Sink
	Log      Log
	// Sentry configures error reporting (SENTRY_DSN, SENTRY_ENVIRONMENT).
	Sentry Sentry

	// Webhooks configures the third-party webhook sources.
	Webhooks webhook.Config
	// WebEngage configures the WebEngage REST API sink.
	WebEngage webengage.Config

	// Auth configures sender authentication of the ingest routes (AUTH_*).
	Auth auth.Config
	// RateLimit configures per-client request rates (RATE_LIMIT_*).
	RateLimit ratelimit.Config
	// Dedupe configures the event id window (DEDUPE_*, REDIS_CLUSTER_*).
	Dedupe dedupe.Config

	// TopologyFile replaces the built-in topology (TOPOLOGY_FILE).
	TopologyFile string
	// Topology is the loaded declaration.
	Topology *topology.Topology

	// ShutdownGrace is how long the service reports not-ready before it
	// stops accepting, so load balancers can notice (SHUTDOWN_GRACE).
	ShutdownGrace time.Duration
	// ShutdownTimeout bounds the whole drain (SHUTDOWN_TIMEOUT).
	ShutdownTimeout time.Duration
}

// TLS holds the TLS_* settings of the service's own ports.
type TLS struct {
	CertFile, KeyFile, ClientCAFile string
}

// GRPC configures the gRPC listener.
type GRPC struct {
	Addr string // from PORT
	// MaxRecvBytes bounds one request (GRPC_MAX_RECV_BYTES).
	MaxRecvBytes int
	// Reflection serves the gRPC reflection service (GRPC_REFLECTION,
	// default true).
	Reflection bool
	// Doors bounds connections, streams and the time to send a request.
	Doors Doors
}

// Doors bounds what peers may hold open on an ingest port.
type Doors struct {
	// ReadTimeout bounds the time to send a request's body in full after
	// its headers (INGEST_READ_TIMEOUT).
	ReadTimeout time.Duration
	// MaxConns bounds the connections one port serves at once
	// (INGEST_MAX_CONNECTIONS).
	MaxConns int
	// MaxStreams bounds the requests one HTTP/2 connection may have open
	// (INGEST_MAX_STREAMS).
	MaxStreams int
}

// HTTP configures the HTTP listener.
type HTTP struct {
	Addr string // from GIN_PORT
	// MaxBodyBytes bounds one request body (HTTP_MAX_BODY_BYTES).
	MaxBodyBytes int64
	// QueryRemote lets non-loopback clients use the operator endpoints
	// (query, admin, profiles, PUT /heartbeat) with AdminToken
	// (QUERY_ALLOW_REMOTE). Off by default.
	QueryRemote bool
	// AdminToken is the Bearer token of the operator endpoints for
	// non-loopback clients (ADMIN_TOKEN); required with QueryRemote.
	AdminToken string
	// AdminHosts are extra Host names a loopback client may use for the
	// operator endpoints (ADMIN_HOSTS, comma separated).
	AdminHosts []string
	// AdminAddr is a loopback listener that alone serves the operator
	// endpoints (ADMIN_ADDR, e.g. 127.0.0.1:8020); empty: on GIN_PORT.
	AdminAddr string
	// MetricsAddr is the listener that alone serves /metrics
	// (METRICS_ADDR); empty: on GIN_PORT.
	MetricsAddr string
	// MetricsClientLabels lets metrics name client ids
	// (METRICS_CLIENT_LABELS, default false: "all").
	MetricsClientLabels bool
	// QueryMaxRows bounds a query's result (QUERY_MAX_ROWS).
	QueryMaxRows int
	// CORSAllowedOrigins are the browser origins (scheme://host[:port]) that
	// may call EventService over Connect / gRPC-Web from another origin
	// (CORS_ALLOWED_ORIGINS, comma-separated). Empty, the default: no CORS
	// headers at all. "*" (alone) allows any origin.
	CORSAllowedOrigins []string
}

// Pipeline configures the ingest worker pool.
type Pipeline struct {
	// Workers is the number of concurrent publishers (EVENT_WORKER_POOL_SIZE).
	Workers int
	// Queue bounds requests waiting for a worker (EVENT_BUFFERED_CHANNEL_SIZE);
	// beyond it requests are refused with RESOURCE_EXHAUSTED / 429.
	Queue int
	// Linger is how long events of one routing key wait to share a broker
	// message with events of concurrent requests (PUBLISH_LINGER).
	Linger time.Duration
	// MaxMessageEvents bounds the events one broker message carries
	// (PUBLISH_MAX_EVENTS).
	MaxMessageEvents int
	// MaxMessageBytes bounds a broker message's body (PUBLISH_MAX_BYTES);
	// the broker's own limit lowers it further.
	MaxMessageBytes int
	// MaxInflightBytes bounds the encoded bytes of the requests the
	// pipeline holds, waiting or publishing (INGEST_MAX_INFLIGHT_BYTES).
	MaxInflightBytes int
	// MaxEvents bounds the events of one request (MAX_EVENTS_PER_REQUEST).
	MaxEvents int
	// MaxEventBytes bounds one event's encoded size (MAX_EVENT_BYTES).
	MaxEventBytes int
	// MaxStringLength bounds any string field (MAX_STRING_LENGTH).
	MaxStringLength int
	// MaxParams bounds a CustomEvent's params entries (MAX_PARAMS).
	MaxParams int
	// MaxPast rejects events older than this (MAX_EVENT_AGE).
	MaxPast time.Duration
	// Exchange receives ingested events (EVENT_EXCHANGE).
	Exchange string
}

// Broker selects and configures the message broker.
type Broker struct {
	// Kind is BROKER: "jetstream" (embedded, default), "nats" (external
	// NATS_URL) or "rabbitmq".
	Kind    string
	NATSURL string
	// NATSReplicas is NATS_STREAM_REPLICAS: the replicas of each stream
	// on an external NATS cluster (1 by default; 3 on a 3-node cluster).
	NATSReplicas int
	// NATSTLSCAFile is NATS_TLS_CA_FILE: the CA of the NATS servers'
	// certificates, for tls:// URLs.
	NATSTLSCAFile string
	// NATSStream is NATS_STREAM: the prefix of the service's stream names
	// (default EVENTGRPC), so two deployments can share a NATS cluster.
	NATSStream string
	// JetStreamSync is JETSTREAM_SYNC for the embedded server: "always"
	// (default, 0) fsyncs before every acknowledgement; a duration such as
	// 2m acknowledges from the page cache and fsyncs every interval.
	JetStreamSync time.Duration
	// JetStreamBufferedBytes bounds, per stream of the embedded server,
	// the published bytes waiting to be stored (0: the server's default,
	// 128 MiB); past it a publish is refused as overload. Carved from
	// MEMORY_LIMIT.
	JetStreamBufferedBytes int64
	Rabbit                 Rabbit
}

// Rabbit holds the seed's RABBIT_* settings.
type Rabbit struct {
	Host      string
	Port      int
	User      string
	Password  string
	VHost     string
	Heartbeat time.Duration // RABBIT_HEARTBEAT, milliseconds
	// Addrs is RABBIT_ADDRS: host:port of each node of a cluster (with
	// RABBIT_USER, RABBIT_PASSWORD, RABBIT_VHOST); replaces RABBIT_HOST
	// and RABBIT_PORT. The service connects to the first that answers and
	// fails over to the others.
	Addrs []string
	// URLs is RABBIT_URLS: full amqp:// or amqps:// URLs of the nodes;
	// wins over RABBIT_ADDRS and RABBIT_HOST.
	URLs []string
	// QueueType is RABBIT_QUEUE_TYPE: classic or quorum for the
	// topology's queues that name none; empty means quorum with several
	// nodes, classic with one.
	QueueType string
	// TLSCAFile is RABBIT_TLS_CA_FILE: the CA that signs the servers'
	// certificates, for amqps:// (default: the system's roots).
	TLSCAFile string
	// TypedExchanges is RABBIT_TYPED_EXCHANGES: exchanges of the topology
	// that consumers outside it read by routing key; the service publishes
	// to them one message per event type (the type as key) instead of
	// packing events per queue (as the topology's `typed: true` does).
	TypedExchanges []string
}

// Sink selects the analytics store and configures the databases.
type Sink struct {
	// Kind is SINK: "duckdb" (embedded, default) or "clickhouse".
	Kind       string
	DuckDBPath string // DUCKDB_PATH, default DATA_DIR/events.duckdb
	// DuckDBMemoryLimit bounds the embedded store's memory (DUCKDB_MEMORY_LIMIT).
	DuckDBMemoryLimit string
	// DuckDBCheckpointThreshold is DUCKDB_CHECKPOINT_THRESHOLD.
	DuckDBCheckpointThreshold string
	ClickHouse                ClickHouse
	Postgres                  Postgres
}

// ClickHouse holds the CLICKHOUSE_* settings.
type ClickHouse struct {
	Host      string
	Port      int
	User      string
	Password  string
	Databases []string // CLICKHOUSE_DB_NAMES, comma-separated; the first is the default
	// Addrs is CLICKHOUSE_ADDRS: host:port (native) of each replica;
	// replaces CLICKHOUSE_HOST and CLICKHOUSE_PORT, tried in order.
	Addrs []string
	// Cluster is CLICKHOUSE_CLUSTER: the remote_servers cluster to create
	// replicated tables on (ON CLUSTER), read through Distributed tables.
	Cluster string
	// Secure is CLICKHOUSE_SECURE: TLS to the servers' secure native port
	// (tcp_port_secure, usually 9440), trusting CLICKHOUSE_TLS_CA_FILE or
	// the system's roots.
	Secure    bool
	TLSCAFile string
	TTLDays   int // CLICKHOUSE_TTL (`90d`): rows older than this many days are deleted; 0 keeps them
	// InsertRows, InsertBytes and InsertInterval are CLICKHOUSE_INSERT_ROWS,
	// CLICKHOUSE_INSERT_BYTES and CLICKHOUSE_INSERT_INTERVAL: one writer per
	// table gathers the rows of every consumer that lands there and inserts
	// them once this many rows (or bytes of values) wait, or this long
	// after the first of them arrived.
	InsertRows     int
	InsertBytes    int64
	InsertInterval time.Duration
}

// Postgres holds the POSTGRES_* settings. It is used when Host is set.
type Postgres struct {
	Host     string
	Port     int
	User     string
	Password string
	DB       string
	Schema   string // POSTGRES_EVENT_SCHEMA
	// URL is POSTGRES_URL: a libpq URL (postgres://…?sslmode=verify-full&
	// sslrootcert=/ca.pem) that replaces POSTGRES_HOST/PORT/USER/DB; its
	// sslmode is used as given.
	URL string
	// SSLMode and SSLRootCert are POSTGRES_SSLMODE (default prefer) and
	// POSTGRES_SSLROOTCERT, used without POSTGRES_URL.
	SSLMode, SSLRootCert string
}

// Sentry configures error reporting; an empty DSN turns it off.
type Sentry struct {
	DSN         string // SENTRY_DSN
	Environment string // SENTRY_ENVIRONMENT, default ENV
}

// Log configures logging.
type Log struct {
	Level  string // LOG_LEVEL: debug, info, warn, error
	Format string // LOG_FORMAT: text or json
}

// Broker kinds.
const (
	BrokerJetStream = "jetstream"
	BrokerNATS      = "nats"
	BrokerRabbitMQ  = "rabbitmq"
)

// Sink kinds.
const (
	SinkDuckDB     = "duckdb"
	SinkClickHouse = "clickhouse"
)

// Lookup reads one variable; os.LookupEnv in production.
type Lookup func(key string) (string, bool)

// Load builds the configuration from the environment: defaults, then the
// `.env.<ENV>` file in dir if one exists, then the process environment,
// which wins. It returns every problem found, joined.
func Load(env Lookup, dir string) (*Config, error) {
	return load(env, dir, cgroupMemoryFiles("/proc/self/cgroup"), "/proc/meminfo")
}

// load is Load with the files MEMORY_LIMIT's default is read from: the
// control group's memory limit files, then meminfo.
func load(env Lookup, dir string, cgroupFiles []string, meminfo string) (*Config, error) {
	name := "local"
	if v, ok := env("ENV"); ok && v != "" {
		name = v
	}
	file := map[string]string{}
	path := filepath.Join(dir, ".env."+name)
	if _, err := os.Stat(path); err == nil {
		m, err := godotenv.Read(path)
		if err != nil {
			return nil, fmt.Errorf("config: %s: %w", path, err)
		}
		file = m
	}
	r := &reader{lookup: func(k string) (string, bool) {
		if v, ok := env(k); ok {
			return v, true
		}
		v, ok := file[k]
		return v, ok
	}}
	r.lookup = withSecretFiles(r.lookup, &r.errs)

	c := &Config{Env: name}
	c.DataDir = r.str("DATA_DIR", "./data")
	c.GRPC.Addr = ":" + r.str("PORT", "8017")
	c.GRPC.MaxRecvBytes = r.int("GRPC_MAX_RECV_BYTES", 4<<20)
	c.GRPC.Doors = Doors{
		ReadTimeout: r.dur("INGEST_READ_TIMEOUT", 10*time.Second),
		MaxConns:    r.int("INGEST_MAX_CONNECTIONS", 1024),
		MaxStreams:  r.int("INGEST_MAX_STREAMS", 64),
	}
	c.HTTP.Addr = ":" + r.str("GIN_PORT", "8019")
	c.HTTP.MaxBodyBytes = int64(r.int("HTTP_MAX_BODY_BYTES", 4<<20))
	c.HTTP.QueryRemote = r.bool("QUERY_ALLOW_REMOTE", false)
	c.HTTP.AdminToken = r.str("ADMIN_TOKEN", "")
	c.HTTP.AdminHosts = r.list("ADMIN_HOSTS", nil)
	c.HTTP.AdminAddr = r.str("ADMIN_ADDR", "")
	c.HTTP.MetricsAddr = r.str("METRICS_ADDR", "")
	c.HTTP.MetricsClientLabels = r.bool("METRICS_CLIENT_LABELS", false)
	c.GRPC.Reflection = r.bool("GRPC_REFLECTION", true)
	c.HTTP.QueryMaxRows = r.int("QUERY_MAX_ROWS", 100000)
	c.HTTP.CORSAllowedOrigins = r.list("CORS_ALLOWED_ORIGINS", nil)

	c.Pipeline.Workers = r.int("EVENT_WORKER_POOL_SIZE", max(64, 32*runtime.NumCPU()))
	c.Pipeline.Queue = r.int("EVENT_BUFFERED_CHANNEL_SIZE", 1024)
	c.Pipeline.Linger = r.dur("PUBLISH_LINGER", 2*time.Millisecond)
	c.Pipeline.MaxMessageEvents = r.int("PUBLISH_MAX_EVENTS", 1000)
	c.Pipeline.MaxMessageBytes = r.int("PUBLISH_MAX_BYTES", 1<<20)
	c.Pipeline.MaxInflightBytes = r.int("INGEST_MAX_INFLIGHT_BYTES", 64<<20)
	c.Pipeline.MaxEvents = r.int("MAX_EVENTS_PER_REQUEST", 1000)
	c.Pipeline.MaxPast = r.dur("MAX_EVENT_AGE", 365*24*time.Hour)
	c.Pipeline.MaxEventBytes = r.int("MAX_EVENT_BYTES", 64<<10)
	c.Pipeline.MaxStringLength = r.int("MAX_STRING_LENGTH", 8<<10)
	c.Pipeline.MaxParams = r.int("MAX_PARAMS", 100)
	c.Pipeline.Exchange = r.str("EVENT_EXCHANGE", "grpc_event.tx")

	c.Broker.Kind = strings.ToLower(r.str("BROKER", BrokerJetStream))
	c.Broker.NATSURL = r.str("NATS_URL", "nats://127.0.0.1:4222")
	c.Broker.NATSReplicas = r.int("NATS_STREAM_REPLICAS", 1)
	c.Broker.NATSTLSCAFile = r.str("NATS_TLS_CA_FILE", "")
	c.Broker.NATSStream = r.str("NATS_STREAM", "")
	if c.Broker.NATSReplicas < 1 || c.Broker.NATSReplicas > 5 {
		r.errs = append(r.errs, fmt.Errorf("NATS_STREAM_REPLICAS: %d is outside 1..5", c.Broker.NATSReplicas))
	}
	if d, err := jetstream.ParseSync(r.str("JETSTREAM_SYNC", "always")); err != nil {
		r.errs = append(r.errs, err)
	} else {
		c.Broker.JetStreamSync = d
	}
	c.Broker.Rabbit = Rabbit{
		Host:      r.str("RABBIT_HOST", "127.0.0.1"),
		Port:      r.int("RABBIT_PORT", 5672),
		User:      r.str("RABBIT_USER", "guest"),
		Password:  r.str("RABBIT_PASSWORD", "guest"),
		VHost:     r.str("RABBIT_VHOST", "/"),
		Heartbeat: time.Duration(r.int("RABBIT_HEARTBEAT", 10000)) * time.Millisecond,
		Addrs:     r.list("RABBIT_ADDRS", nil),
		URLs:      r.list("RABBIT_URLS", nil),
		QueueType: strings.ToLower(r.str("RABBIT_QUEUE_TYPE", "")),
		TLSCAFile: r.str("RABBIT_TLS_CA_FILE", ""),

		TypedExchanges: r.list("RABBIT_TYPED_EXCHANGES", nil),
	}

	c.Sink.Kind = strings.ToLower(r.str("SINK", SinkDuckDB))
	c.Sink.DuckDBPath = r.str("DUCKDB_PATH", filepath.Join(c.DataDir, "events.duckdb"))
	defLimit, limitFrom := defaultMemoryLimit(cgroupFiles, meminfo)
	c.MemoryLimit = r.size("MEMORY_LIMIT", defLimit)
	c.MemoryLimitFrom = limitFrom
	if r.has("MEMORY_LIMIT") {
		c.MemoryLimitFrom = "MEMORY_LIMIT"
	}
	c.LandingMaxInflightBytes = r.size("LANDING_MAX_INFLIGHT_BYTES", landing.DefaultSinkBytes)
	c.Sink.DuckDBMemoryLimit = r.str("DUCKDB_MEMORY_LIMIT", "")
	c.Sink.DuckDBCheckpointThreshold = r.str("DUCKDB_CHECKPOINT_THRESHOLD", "")
	c.GoMemoryLimit = c.carveMemory(r)
	c.Sink.ClickHouse = ClickHouse{
		Host:      r.str("CLICKHOUSE_HOST", "127.0.0.1"),
		Port:      r.int("CLICKHOUSE_PORT", 9000),
		User:      r.str("CLICKHOUSE_USER", "default"),
		Password:  r.str("CLICKHOUSE_PASSWORD", ""),
		Databases: r.list("CLICKHOUSE_DB_NAMES", []string{"event_grpc"}),
		Addrs:     r.list("CLICKHOUSE_ADDRS", nil),
		Cluster:   r.str("CLICKHOUSE_CLUSTER", ""),
		Secure:    r.bool("CLICKHOUSE_SECURE", false),
		TLSCAFile: r.str("CLICKHOUSE_TLS_CA_FILE", ""),
		TTLDays:   r.days("CLICKHOUSE_TTL"),

		InsertRows:     r.int("CLICKHOUSE_INSERT_ROWS", sink.DefaultCoalesceRows),
		InsertBytes:    r.size("CLICKHOUSE_INSERT_BYTES", sink.DefaultCoalesceBytes),
		InsertInterval: r.dur("CLICKHOUSE_INSERT_INTERVAL", sink.DefaultCoalesceInterval),
	}
	c.Sink.Postgres = Postgres{
		Host:        r.str("POSTGRES_HOST", ""),
		Port:        r.int("POSTGRES_PORT", 5432),
		User:        r.str("POSTGRES_USER", "postgres"),
		Password:    r.str("POSTGRES_PASSWORD", ""),
		DB:          r.str("POSTGRES_DB", "postgres"),
		Schema:      r.str("POSTGRES_EVENT_SCHEMA", "public"),
		URL:         r.str("POSTGRES_URL", ""),
		SSLMode:     r.str("POSTGRES_SSLMODE", ""),
		SSLRootCert: r.str("POSTGRES_SSLROOTCERT", ""),
	}

	c.Sentry.DSN = r.str("SENTRY_DSN", "")
	c.Sentry.Environment = r.str("SENTRY_ENVIRONMENT", c.Env)
	c.Log.Level = strings.ToLower(r.str("LOG_LEVEL", "info"))
	c.Log.Format = strings.ToLower(r.str("LOG_FORMAT", "text"))
	c.TopologyFile = r.str("TOPOLOGY_FILE", "")
	c.ShutdownGrace = r.dur("SHUTDOWN_GRACE", 0)
	c.ShutdownTimeout = r.dur("SHUTDOWN_TIMEOUT", 30*time.Second)

	if ac, err := auth.ConfigFromEnv(r.lookup, name); err != nil {
		r.errs = append(r.errs, err)
	} else {
		c.Auth = ac
		c.Auth.MaxBodyBytes = c.HTTP.MaxBodyBytes
	}
	c.ListenAddr = r.str("LISTEN_ADDR", "")
	c.TLS = TLS{CertFile: r.str("TLS_CERT_FILE", ""), KeyFile: r.str("TLS_KEY_FILE", ""), ClientCAFile: r.str("TLS_CLIENT_CA_FILE", "")}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		r.errs = append(r.errs, errors.New("TLS_CERT_FILE and TLS_KEY_FILE: set both or neither"))
	}
	if c.TLS.ClientCAFile != "" && c.TLS.CertFile == "" {
		r.errs = append(r.errs, errors.New("TLS_CLIENT_CA_FILE: needs TLS_CERT_FILE and TLS_KEY_FILE"))
	}
	c.GRPC.Addr, c.HTTP.Addr = listenOn(c.ListenAddr, c.Auth.Mode, c.GRPC.Addr, c.HTTP.Addr)
	part(r, &c.RateLimit)(ratelimit.ConfigFromEnv(r.lookup))
	part(r, &c.Dedupe)(dedupe.ConfigFromEnv(r.lookup))
	c.carveBudgets(r)
	part(r, &c.Webhooks)(webhook.ConfigFromEnv(r.lookup, name))
	part(r, &c.WebEngage)(webengage.ConfigFromEnv(r.lookup))
	if c.TopologyFile != "" {
		t, err := topology.Load(c.TopologyFile)
		if err != nil {
			r.errs = append(r.errs, fmt.Errorf("TOPOLOGY_FILE: %w", err))
		}
		c.Topology = t
	} else {
		c.Topology = topology.Default()
	}
	if err := c.Validate(); err != nil {
		r.errs = append(r.errs, err)
	}
	if err := errors.Join(r.errs...); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return c, nil
}

// part returns what takes a part's ConfigFromEnv results: the
// configuration goes into *dst, or the error into r's (and *dst stays as
// it is).
func part[C any](r *reader, dst *C) func(C, error) {
	return func(c C, err error) {
		if err != nil {
			r.errs = append(r.errs, err)
			return
		}
		*dst = c
	}
}

// Validate reports every problem of the tree, naming the variable at fault.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, a := range []struct{ name, addr string }{{"PORT", c.GRPC.Addr}, {"GIN_PORT", c.HTTP.Addr}} {
		if _, port, err := net.SplitHostPort(a.addr); err != nil {
			bad("%s: %v", a.name, err)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			bad("%s: %q is not a port number", a.name, port)
		}
	}
	if h := c.ListenAddr; h != "" && (strings.ContainsAny(h, "/ ") || strings.Contains(h, ":") && net.ParseIP(h) == nil) {
		bad("LISTEN_ADDR: %q is not a host name or IP address (without a port)", h)
	}
	if c.GRPC.Addr == c.HTTP.Addr && !strings.HasSuffix(c.GRPC.Addr, ":0") {
		bad("PORT and GIN_PORT: both are %s", c.GRPC.Addr)
	}
	if err := validOrigins(c.HTTP.CORSAllowedOrigins); err != nil {
		bad("CORS_ALLOWED_ORIGINS: %v", err)
	}
	positive := []struct {
		name string
		v    int
	}{
		{"EVENT_WORKER_POOL_SIZE", c.Pipeline.Workers},
		{"EVENT_BUFFERED_CHANNEL_SIZE", c.Pipeline.Queue},
		{"PUBLISH_MAX_EVENTS", c.Pipeline.MaxMessageEvents},
		{"PUBLISH_MAX_BYTES", c.Pipeline.MaxMessageBytes},
		{"INGEST_MAX_INFLIGHT_BYTES", c.Pipeline.MaxInflightBytes},
		{"MAX_EVENTS_PER_REQUEST", c.Pipeline.MaxEvents},
		{"MAX_EVENT_BYTES", c.Pipeline.MaxEventBytes},
		{"MAX_STRING_LENGTH", c.Pipeline.MaxStringLength},
		{"MAX_PARAMS", c.Pipeline.MaxParams},
		{"GRPC_MAX_RECV_BYTES", c.GRPC.MaxRecvBytes},
		{"HTTP_MAX_BODY_BYTES", int(c.HTTP.MaxBodyBytes)},
		{"QUERY_MAX_ROWS", c.HTTP.QueryMaxRows},
		{"INGEST_MAX_CONNECTIONS", c.GRPC.Doors.MaxConns},
		{"INGEST_MAX_STREAMS", c.GRPC.Doors.MaxStreams},
	}
	for _, p := range positive {
		if p.v <= 0 {
			bad("%s: must be positive, got %d", p.name, p.v)
		}
	}
	if c.LandingMaxInflightBytes <= 0 {
		bad("LANDING_MAX_INFLIGHT_BYTES: must be positive, got %d", c.LandingMaxInflightBytes)
	}
	if c.HTTP.AdminAddr != "" {
		if err := loopbackAddr(c.HTTP.AdminAddr); err != nil {
			bad("ADMIN_ADDR: %v", err)
		}
	}
	if c.HTTP.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTP.MetricsAddr); err != nil {
			bad("METRICS_ADDR: %v", err)
		}
	}
	if c.HTTP.AdminToken != "" && len(c.HTTP.AdminToken) < 16 {
		bad("ADMIN_TOKEN: at least 16 characters")
	}
	if c.HTTP.QueryRemote && len(c.HTTP.AdminToken) < 16 {
		bad("ADMIN_TOKEN: QUERY_ALLOW_REMOTE opens the operator endpoints to the network; it needs an ADMIN_TOKEN of at least 16 characters")
	}
	if c.Pipeline.Linger < 0 || c.Pipeline.Linger > time.Second {
		bad("PUBLISH_LINGER: %v is outside 0..1s", c.Pipeline.Linger)
	}
	if c.GRPC.Doors.ReadTimeout <= 0 {
		bad("INGEST_READ_TIMEOUT: must be positive, got %v", c.GRPC.Doors.ReadTimeout)
	}
	if c.Pipeline.MaxPast <= 0 {
		bad("MAX_EVENT_AGE: must be positive")
	}
	switch c.Broker.Kind {
	case BrokerJetStream, BrokerNATS, BrokerRabbitMQ:
	default:
		bad("BROKER: %q is not jetstream, nats or rabbitmq", c.Broker.Kind)
	}
	if c.Broker.Kind == BrokerRabbitMQ {
		rb := c.Broker.Rabbit
		if len(rb.URLs) == 0 && len(rb.Addrs) == 0 {
			if rb.Host == "" {
				bad("RABBIT_HOST: empty")
			}
			if rb.Port <= 0 || rb.Port > 65535 {
				bad("RABBIT_PORT: %d is not a port", rb.Port)
			}
		}
		for _, a := range rb.Addrs {
			if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
				bad("RABBIT_ADDRS: %q is not host:port", a)
			}
		}
		for _, u := range rb.URLs {
			if !strings.HasPrefix(u, "amqp://") && !strings.HasPrefix(u, "amqps://") {
				bad("RABBIT_URLS: an entry is not an amqp:// or amqps:// URL")
			}
		}
		switch rb.QueueType {
		case "", "classic", "quorum":
		default:
			bad("RABBIT_QUEUE_TYPE: %q is not classic or quorum", rb.QueueType)
		}
	}
	switch c.Sink.Kind {
	case SinkDuckDB, SinkClickHouse:
	default:
		bad("SINK: %q is not duckdb or clickhouse", c.Sink.Kind)
	}
	if c.Sink.Kind == SinkClickHouse && len(c.Sink.ClickHouse.Databases) == 0 {
		bad("CLICKHOUSE_DB_NAMES: empty")
	}
	if ch := c.Sink.ClickHouse; c.Sink.Kind == SinkClickHouse {
		if ch.InsertRows <= 0 {
			bad("CLICKHOUSE_INSERT_ROWS: must be positive, got %d", ch.InsertRows)
		}
		if ch.InsertBytes <= 0 || ch.InsertBytes > 1<<40 {
			bad("CLICKHOUSE_INSERT_BYTES: must be positive (and below 1 TiB), got %d", ch.InsertBytes)
		}
		if ch.InsertInterval <= 0 {
			bad("CLICKHOUSE_INSERT_INTERVAL: must be positive, got %s", ch.InsertInterval)
		}
	}
	if c.Topology != nil {
		if _, ok := c.Topology.Exchange(c.Pipeline.Exchange); !ok {
			bad("EVENT_EXCHANGE: %q is not an exchange of the topology", c.Pipeline.Exchange)
		}
		for _, name := range c.Broker.Rabbit.TypedExchanges {
			if _, ok := c.Topology.Exchange(name); !ok {
				bad("RABBIT_TYPED_EXCHANGES: %q is not an exchange of the topology", name)
			}
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("LOG_LEVEL: %q is not debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("LOG_FORMAT: %q is not text or json", c.Log.Format)
	}
	if c.ShutdownTimeout <= c.ShutdownGrace {
		bad("SHUTDOWN_TIMEOUT: %v must exceed SHUTDOWN_GRACE %v", c.ShutdownTimeout, c.ShutdownGrace)
	}
	return errors.Join(errs...)
}

// listenOn puts the listen host on the ports (":8017"): LISTEN_ADDR when
// set, else loopback when authentication is off, else every interface.
func listenOn(listen, authMode, grpcAddr, httpAddr string) (string, string) {
	host := listen
	if host == "" && (authMode == "" || authMode == auth.ModeOff) {
		host = "127.0.0.1"
	}
	withHost := func(addr string) string {
		_, port, err := net.SplitHostPort(addr)
		if host == "" || err != nil { // a bad port is reported by Validate
			return addr
		}
		return net.JoinHostPort(host, port)
	}
	return withHost(grpcAddr), withHost(httpAddr)
}

// ClientAddrs are the gRPC and HTTP addresses (host:port) at which a
// command on this machine reaches the server this environment starts: the
// same PORT, GIN_PORT and LISTEN_ADDR (and .env.<ENV> file) the server
// reads, with loopback for an unset or unspecified (0.0.0.0, ::) host.
// It reads nothing else, so it works where the full configuration would
// not load (a client of a remote server).
func ClientAddrs(env Lookup, dir string) (grpcAddr, httpAddr string) {
	file := map[string]string{}
	name, _ := env("ENV")
	if name == "" {
		name = "local"
	}
	if m, err := godotenv.Read(filepath.Join(dir, ".env."+name)); err == nil {
		file = m
	}
	get := func(k, def string) string {
		if v, ok := env(k); ok && v != "" {
			return v
		}
		if v := file[k]; v != "" {
			return v
		}
		return def
	}
	host := get("LISTEN_ADDR", "127.0.0.1")
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, get("PORT", "8017")), net.JoinHostPort(host, get("GIN_PORT", "8019"))
}

// reader parses variables, collecting errors instead of stopping at the
// first.
type reader struct {
	lookup Lookup
	errs   []error
}

func (r *reader) str(key, def string) string {
	if v, ok := r.lookup(key); ok && v != "" {
		return v
	}
	return def
}

func (r *reader) int(key string, def int) int {
	return parsed(r, key, def, strconv.Atoi, "an integer")
}

// parsed reads key with parse, def when it is unset or empty. A value
// parse refuses is an error naming key and, with want, what the value is
// not (else parse's own error); def stands then.
func parsed[T any](r *reader, key string, def T, parse func(string) (T, error), want string) T {
	v, ok := r.lookup(key)
	if !ok || v == "" {
		return def
	}
	x, err := parse(strings.TrimSpace(v))
	if err != nil {
		if want != "" {
			err = fmt.Errorf("%q is not %s", v, want)
		}
		r.errs = append(r.errs, fmt.Errorf("%s: %w", key, err))
		return def
	}
	return x
}

// size reads a byte count: a number of bytes, or one with a unit (KB, MB,
// GB: powers of 1000; KiB, MiB, GiB: of 1024), as DuckDB writes them.
func (r *reader) size(key string, def int64) int64 {
	return parsed(r, key, def, parseSize, "")
}

func (r *reader) has(key string) bool {
	v, ok := r.lookup(key)
	return ok && strings.TrimSpace(v) != ""
}

func (r *reader) bool(key string, def bool) bool {
	return parsed(r, key, def, strconv.ParseBool, "true or false")
}

func (r *reader) dur(key string, def time.Duration) time.Duration {
	return parsed(r, key, def, time.ParseDuration, "a duration (e.g. 5ms, 30s)")
}

// days reads a retention in whole days: `90d`, or `0` (none, the default).
func (r *reader) days(key string) int {
	v, ok := r.lookup(key)
	v = strings.TrimSpace(v)
	if !ok || v == "" || v == "0" {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSuffix(v, "d"))
	if err != nil || !strings.HasSuffix(v, "d") || n <= 0 {
		r.errs = append(r.errs, fmt.Errorf("%s: %q is not a number of days (e.g. 90d; 0 for none)", key, v))
		return 0
	}
	return n
}

func (r *reader) list(key string, def []string) []string {
	v, ok := r.lookup(key)
	if !ok || strings.TrimSpace(v) == "" {
		return def
	}
	var out []string
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// validOrigins checks CORS origins: "*" alone, or each scheme://host[:port]
// with scheme http or https and nothing after the host.
func validOrigins(origins []string) error {
	for _, o := range origins {
		if o == "*" {
			if len(origins) > 1 {
				return errors.New(`"*" allows every origin; list no other origin beside it`)
			}
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.Contains(o, "*") {
			return fmt.Errorf("%q is not an origin (want scheme://host[:port], e.g. https://app.example.com)", o)
		}
	}
	return nil
}

// loopbackAddr checks that addr is host:port with a loopback host (the
// operator listener must not be reachable from the network).
func loopbackAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%q is not a loopback address (e.g. 127.0.0.1:8020): the operator listener serves its routes without a token", addr)
}
