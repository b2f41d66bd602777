package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/event-grpc/event-grpc/internal/auth"
	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/broker/jetstream"
	"github.com/event-grpc/event-grpc/internal/broker/rabbitmq"
	"github.com/event-grpc/event-grpc/internal/component"
	"github.com/event-grpc/event-grpc/internal/config"
	"github.com/event-grpc/event-grpc/internal/consume"
	"github.com/event-grpc/event-grpc/internal/dedupe"
	"github.com/event-grpc/event-grpc/internal/health"
	"github.com/event-grpc/event-grpc/internal/ingest/connectsrv"
	"github.com/event-grpc/event-grpc/internal/ingest/grpcsrv"
	"github.com/event-grpc/event-grpc/internal/ingest/httpsrv"
	"github.com/event-grpc/event-grpc/internal/ingest/segment"
	"github.com/event-grpc/event-grpc/internal/ingest/webhook"
	"github.com/event-grpc/event-grpc/internal/landing"
	"github.com/event-grpc/event-grpc/internal/pipeline"
	"github.com/event-grpc/event-grpc/internal/query"
	"github.com/event-grpc/event-grpc/internal/ratelimit"
	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/sink"
	"github.com/event-grpc/event-grpc/internal/sink/clickhouse"
	"github.com/event-grpc/event-grpc/internal/sink/duckdb"
	"github.com/event-grpc/event-grpc/internal/sink/postgres"
	"github.com/event-grpc/event-grpc/internal/sink/webengage"
	"github.com/event-grpc/event-grpc/internal/tail"
	"github.com/event-grpc/event-grpc/internal/telemetry"
	"github.com/event-grpc/event-grpc/internal/tlsconf"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// App is the running service.
type App struct {
	cfg *config.Config
	log *slog.Logger
	reg *prometheus.Registry

	State    *health.State
	Broker   broker.Broker
	Pipeline *pipeline.Pipeline
	Webhooks *webhook.Webhooks
	GRPC     *grpcsrv.Server
	HTTP     *httpsrv.Server
	// Tail is the live tap of accepted events (GET /v1/tail).
	Tail *tail.Hub
	// Reporter sends panics, dead letters and start failures to Sentry.
	Reporter telemetry.Reporter
	// History samples the status page's rates every second (GET /admin/history).
	History *httpsrv.History

	// broker is Broker as a part of the service (Start, Shutdown, Ready).
	broker        component.Component
	dedupe        dedupe.Store // nil when DEDUPE_WINDOW=0
	authn         *auth.Authenticator
	analytics     *sink.Connecting
	transactional *sink.Connecting // nil when PostgreSQL is not configured
	// coalescer, with ClickHouse, is the analytics store as the consumers
	// write to it: one writer per table gathering every queue's rows.
	coalescer *sink.Coalescer
	webengage *webengage.Sink
	catalog   schema.Catalog
	// observer counts and times every write through route (the sink
	// metrics decorator).
	observer *sink.Observer

	consumeCancel context.CancelFunc
	consumers     sync.WaitGroup
	consumeErrs   chan error

	// parts are the long-lived parts in start order (components.go).
	parts *component.Group
}

// New builds every part; nothing listens, consumes or reaches a broker or
// a database until Start.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, reg *prometheus.Registry) (_ *App, err error) {
	a := &App{cfg: cfg, log: log, reg: reg, State: health.New(), catalog: schema.Default(), consumeErrs: make(chan error, 1), Reporter: telemetry.Nop{}}
	ok := false
	defer func() {
		if !ok {
			a.Reporter.StartFailed(err)
			// Every part built so far stops; none was started.
			_ = a.components().Shutdown(context.Background())
		}
	}()
	if a.Reporter, err = telemetry.NewReporter(telemetry.SentryConfig{
		DSN: cfg.Sentry.DSN, Environment: cfg.Sentry.Environment, Logger: log, Registerer: reg,
	}); err != nil {
		a.Reporter = telemetry.Nop{}
		return nil, err
	}
	if a.Tail, err = tail.New(tail.Config{Registerer: reg}); err != nil {
		return nil, err
	}
	ready := telemetry.NewReadyGauge(a.State.Ready)
	if err := telemetry.Register(reg, &ready); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil && needsDataDir(cfg) {
		return nil, fmt.Errorf("DATA_DIR %s: %w", cfg.DataDir, err)
	}
	if err := a.openSinks(ctx); err != nil {
		return nil, err
	}
	ws, err := webengage.New(cfg.WebEngage, log, reg)
	if err != nil {
		return nil, fmt.Errorf("webengage: %w", err)
	}
	a.webengage = ws
	// A WebEngage queue whose account is not configured would never be
	// consumed: it is not declared, so nothing is routed into it to fill
	// the store (a publish only it would take is refused as unroutable).
	var idle []string
	for _, q := range cfg.Topology.Queues {
		if q.Handler != topology.HandlerWebEngage {
			continue
		}
		if _, err := ws.Handler(q); errors.Is(err, webengage.ErrNotConfigured) {
			if !webengageUnset(cfg) { // no account at all: one INFO line says so below
				log.Warn("queue not declared: its WebEngage account is not configured, nothing would consume it", "queue", q.Name, "err", err)
			}
			idle = append(idle, q.Name)
		}
	}
	if len(idle) > 0 {
		c := *cfg
		c.Topology = cfg.Topology.WithoutQueues(idle...)
		a.cfg, cfg = &c, &c
	}
	if err := a.openBroker(); err != nil {
		return nil, err
	}
	authCfg := cfg.Auth
	authCfg.ClientLabels = cfg.HTTP.MetricsClientLabels
	authn, err := auth.New(authCfg, reg, nil)
	a.authn = authn
	if err != nil {
		return nil, err
	}
	if authn.Mode() == auth.ModeOff && cfg.Env != "local" {
		log.Warn("ingest authentication is off (AUTH_MODE=off)")
	}
	rlCfg := cfg.RateLimit
	rlCfg.ClientLabels = cfg.HTTP.MetricsClientLabels
	limiter, err := ratelimit.New(rlCfg, reg, nil)
	if err != nil {
		return nil, err
	}
	if a.dedupe, err = dedupe.Open(cfg.Dedupe, log, reg); err != nil {
		return nil, err
	}
	if a.Pipeline, err = pipeline.New(pipeline.Config{
		Dedupe:           a.dedupe,
		Workers:          cfg.Pipeline.Workers,
		Queue:            cfg.Pipeline.Queue,
		Linger:           cfg.Pipeline.Linger,
		MaxMessageEvents: cfg.Pipeline.MaxMessageEvents,
		MaxMessageBytes:  cfg.Pipeline.MaxMessageBytes,
		MaxInflightBytes: cfg.Pipeline.MaxInflightBytes,
		MaxEvents:        cfg.Pipeline.MaxEvents,
		MaxEventBytes:    cfg.Pipeline.MaxEventBytes,
		MaxStringLength:  cfg.Pipeline.MaxStringLength,
		MaxParams:        cfg.Pipeline.MaxParams,
		MaxPast:          cfg.Pipeline.MaxPast,
		Exchange:         cfg.Pipeline.Exchange,
		Logger:           log,
		Registerer:       reg,
	}, a.Broker); err != nil {
		return nil, err
	}
	// The servers dispatch through the tail's tap: accepted events reach
	// the tail's subscribers, when there are any.
	disp := a.Tail.Wrap(a.Pipeline)
	doors := cfg.GRPC.Doors
	var serverTLS *tls.Config
	if cfg.TLS.CertFile != "" {
		ts := &tlsconf.Server{CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile, ClientCAFile: cfg.TLS.ClientCAFile}
		if serverTLS, err = ts.Config(); err != nil {
			return nil, err
		}
	}
	rejects := httpsrv.NewRejects() // the status page's samples of rejected events
	disp = rejects.Wrap(disp)
	a.GRPC = grpcsrv.New(grpcsrv.Config{Addr: cfg.GRPC.Addr, TLS: serverTLS, MaxRecvBytes: cfg.GRPC.MaxRecvBytes, Logger: log,
		// Nothing is read before the headers' credentials passed and the
		// budget took the most the message may be (see grpcsrv's doc).
		Tap: authn.TapHandle, Budget: a.Pipeline, MaxEvents: cfg.Pipeline.MaxEvents, ReadTimeout: doors.ReadTimeout,
		MaxConns: doors.MaxConns, MaxConcurrentStreams: uint32(doors.MaxStreams), Reflection: cfg.GRPC.Reflection,
		// Authentication first: the limiter keys on the authenticated id.
		Interceptors: []grpc.UnaryServerInterceptor{telemetry.UnaryRecover(a.Reporter), authn.UnaryInterceptor(), limiter.UnaryInterceptor()},
	}, disp, a.State)
	var q query.Querier = a.analytics
	a.HTTP = httpsrv.New(httpsrv.Config{
		Addr:         cfg.HTTP.Addr,
		TLS:          serverTLS,
		MaxBodyBytes: cfg.HTTP.MaxBodyBytes,
		QueryRemote:  cfg.HTTP.QueryRemote,
		AdminToken:   cfg.HTTP.AdminToken,
		AdminHosts:   cfg.HTTP.AdminHosts,
		AdminAddr:    cfg.HTTP.AdminAddr,
		MetricsAddr:  cfg.HTTP.MetricsAddr,
		// Outside ENV=local the operator routes need ADMIN_TOKEN (or ADMIN_ADDR).
		RequireToken:         cfg.Env != "local",
		QueryMaxRows:         cfg.HTTP.QueryMaxRows,
		Budget:               a.Pipeline,
		Precheck:             authn.Precheck,
		ReadTimeout:          doors.ReadTimeout,
		MaxConns:             doors.MaxConns,
		MaxConcurrentStreams: doors.MaxStreams,
		MaxEvents:            cfg.Pipeline.MaxEvents,
		Logger:               log,
		Gatherer:             reg,
		Registerer:           reg,
		Querier:              q,
		// Webhook routes are mounted with HTTP.Webhook and skip this.
		Middleware: func(h http.Handler) http.Handler { return authn.Middleware(limiter.Middleware(h)) },
		Outer:      func(h http.Handler) http.Handler { return telemetry.HTTPRecover(a.Reporter, h) },
	}, disp, a.State)
	if cfg.Env != "local" && cfg.HTTP.AdminToken == "" && cfg.HTTP.AdminAddr == "" {
		log.Warn("operator endpoints closed: outside ENV=local they need ADMIN_TOKEN or the operator listener ADMIN_ADDR")
	}
	dl, hasDL := a.Broker.(broker.DeadLetters)
	if hasDL {
		a.HTTP.MountAdmin(cfg.Topology, dl)
	}
	a.HTTP.MountAccounting(reg, catchAll(cfg.Topology, cfg.Pipeline.Exchange))
	// EventService over Connect / gRPC-Web on the HTTP port: the same
	// pipeline, credentials and limits; it answers in its own protocol.
	ccfg := connectsrv.Config{MaxBodyBytes: cfg.HTTP.MaxBodyBytes, AllowedOrigins: cfg.HTTP.CORSAllowedOrigins, Limiter: limiter, Budget: a.Pipeline, MaxEvents: cfg.Pipeline.MaxEvents, ReadTimeout: doors.ReadTimeout, Logger: log}
	if authn.Mode() != auth.ModeOff {
		ccfg.Precheck = authn.Precheck
		ccfg.Authenticate = authn.Middleware
	}
	a.HTTP.Handle(connectsrv.New(ccfg, disp))
	var queues broker.QueueStats
	if qs, ok := a.Broker.(broker.QueueStats); ok {
		// One broker call every 2 s at most, for the page and the scrape.
		queues = telemetry.NewQueueStatsCache(qs, 2*time.Second)
		qc := telemetry.NewQueueCollector(queues)
		if err := telemetry.Register(reg, &qc); err != nil {
			return nil, err
		}
	}
	disk := telemetry.NewDiskCollector(cfg.DataDir)
	if err := telemetry.Register(reg, &disk); err != nil {
		return nil, err
	}
	a.History = httpsrv.NewHistory(reg, catchAll(cfg.Topology, cfg.Pipeline.Exchange))
	if err := a.HTTP.MountLogin(); err != nil {
		return nil, err
	}
	a.HTTP.MountStatus(httpsrv.StatusConfig{Gatherer: reg, Queues: queues, CatchAll: catchAll(cfg.Topology, cfg.Pipeline.Exchange),
		DeadLetters: hasDL, Version: telemetry.Version(), History: a.History, Rejects: rejects})
	a.HTTP.MountTail(a.Tail)
	if a.Webhooks, err = webhook.New(cfg.Webhooks, a.Broker, a.dedupe, log, reg); err != nil {
		return nil, err
	}
	for pattern, h := range a.Webhooks.Routes() {
		// Webhooks are rate limited like every ingest route, by peer IP.
		a.HTTP.Webhook(pattern, limiter.Middleware(h))
	}
	// The Segment tracking API: write keys are API keys, with their limits.
	seg := segment.New(segment.Config{Admit: a.Pipeline.Admit, WriteKey: authn.WriteKey, Limit: limiter.Middleware,
		MaxEvents: cfg.Pipeline.MaxEvents, Logger: log}, disp)
	for pattern, h := range seg.Routes() {
		a.HTTP.Handle(pattern, h)
	}
	if cfg.Env != "local" {
		for _, v := range a.Webhooks.Unauthenticated() {
			log.Warn("webhook accepts unauthenticated requests: no secret configured", "variable", v)
		}
	}
	if off := offLine(cfg, authn.Mode() == auth.ModeOff, a.Webhooks.Unauthenticated(), len(idle) > 0 && webengageUnset(cfg)); off != "" {
		log.Info("off until configured", "off", off)
	}
	a.parts = a.components()
	a.addProbes()
	ok = true
	return a, nil
}

func needsDataDir(cfg *config.Config) bool {
	return cfg.Broker.Kind == config.BrokerJetStream || cfg.Sink.Kind == config.SinkDuckDB
}

func (a *App) openSinks(ctx context.Context) (err error) {
	cfg := a.cfg
	if a.observer, err = sink.NewObserver(a.reg); err != nil {
		return err
	}
	switch cfg.Sink.Kind {
	case config.SinkClickHouse:
		chCfg := clickhouse.Config{
			Host: cfg.Sink.ClickHouse.Host, Port: cfg.Sink.ClickHouse.Port,
			Addrs: cfg.Sink.ClickHouse.Addrs, Cluster: cfg.Sink.ClickHouse.Cluster,
			User: cfg.Sink.ClickHouse.User, Password: cfg.Sink.ClickHouse.Password,
			Databases: cfg.Sink.ClickHouse.Databases, Logger: a.log, Registerer: a.reg,
			TTLDays: cfg.Sink.ClickHouse.TTLDays,
		}
		if cfg.Sink.ClickHouse.Secure {
			tlsCfg, err := tlsClientConfig(cfg.Sink.ClickHouse.TLSCAFile, "CLICKHOUSE_TLS_CA_FILE")
			if err != nil {
				return err
			}
			if tlsCfg == nil {
				tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
			}
			chCfg.TLS = tlsCfg
		}
		a.analytics = sink.NewConnecting("clickhouse", func(ctx context.Context) (sink.Sink, error) {
			return clickhouse.New(ctx, chCfg)
		}, a.log)
		c, err := sink.NewCoalescer(a.analytics, sink.CoalesceConfig{
			MaxRows: cfg.Sink.ClickHouse.InsertRows, MaxBytes: int(cfg.Sink.ClickHouse.InsertBytes),
			Interval: cfg.Sink.ClickHouse.InsertInterval, Registerer: a.reg,
		})
		if err != nil {
			return err
		}
		a.coalescer = c
	default:
		dCfg := duckdb.Config{Path: cfg.Sink.DuckDBPath, MemoryLimit: cfg.Sink.DuckDBMemoryLimit, CheckpointThreshold: cfg.Sink.DuckDBCheckpointThreshold, Logger: a.log, Registerer: a.reg}
		// A local file: opened at Start, which fails when it cannot be.
		a.analytics = sink.NewOpenAtStart("duckdb", func(ctx context.Context) (sink.Sink, error) {
			if err := os.MkdirAll(filepath.Dir(dCfg.Path), 0o755); err != nil {
				return nil, fmt.Errorf("DUCKDB_PATH: %w", err)
			}
			return duckdb.New(ctx, dCfg)
		}, a.log)
	}
	if cfg.Sink.Postgres.Host != "" || cfg.Sink.Postgres.URL != "" {
		pg := cfg.Sink.Postgres
		pgCfg := postgres.Config{
			Host: pg.Host, Port: pg.Port, User: pg.User, Password: pg.Password, DB: pg.DB, Schema: pg.Schema,
			URL: pg.URL, SSLMode: pg.SSLMode, SSLRootCert: pg.SSLRootCert,
			Logger: a.log, Registerer: a.reg,
		}
		a.transactional = sink.NewConnecting("postgres", func(ctx context.Context) (sink.Sink, error) {
			return postgres.New(ctx, pgCfg)
		}, a.log)
	}
	// Create what the topology's queues write.
	bySink := map[sink.Sink][]*schema.Table{}
	for _, name := range tablesOf(cfg.Topology) {
		t, ok := a.catalog.Lookup(name)
		if !ok {
			return fmt.Errorf("topology: table %q is not declared in the schema", name)
		}
		s := a.route(t)
		bySink[s] = append(bySink[s], t)
	}
	for s, tables := range bySink {
		if err := s.Migrate(ctx, tables); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	// The stores record the tables and create them once connected (at
	// Start): a database server that is down then is connected to when it
	// returns; the service starts not ready, consumers hold their batches.
	return nil
}

// route picks a table's sink: transactional tables go to PostgreSQL when
// it is configured; everything else to the analytics store. The sink is
// observed (sink.Observer): its writes are counted there, once.
func (a *App) route(t *schema.Table) sink.Sink {
	if t.Store == schema.Transactional && a.transactional != nil {
		return a.observer.Of(a.transactional)
	}
	if a.coalescer != nil {
		return a.observer.Of(a.coalescer)
	}
	return a.observer.Of(a.analytics)
}

func tablesOf(top *topology.Topology) []string {
	seen := map[string]bool{}
	var out []string
	for _, q := range top.Queues {
		for _, t := range q.Tables {
			if !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		}
	}
	return out
}

// openBroker builds the broker; it connects at Start (a server down then
// leaves the service not ready until it answers; a topology the server
// refuses fails Start).
func (a *App) openBroker() error {
	cfg := a.cfg
	var (
		b interface {
			broker.Broker
			// Component is the broker as a part of the service, whose
			// readiness says why it is not ready.
			Component() component.Component
		}
		err error
	)
	switch cfg.Broker.Kind {
	case config.BrokerRabbitMQ:
		r := cfg.Broker.Rabbit
		var tlsCfg *tls.Config
		if tlsCfg, err = tlsClientConfig(r.TLSCAFile, "RABBIT_TLS_CA_FILE"); err != nil {
			return err
		}
		var rb *rabbitmq.Broker
		if rb, err = rabbitmq.New(rabbitmq.Config{
			URLs:      rabbitNodes(r),
			QueueType: r.QueueType, TLS: tlsCfg, TypedExchanges: r.TypedExchanges,
			Heartbeat: r.Heartbeat, Topology: cfg.Topology, Logger: a.log, Registerer: a.reg,
		}); err == nil {
			b = rb
		}
	case config.BrokerNATS:
		var tlsCfg *tls.Config
		if tlsCfg, err = tlsClientConfig(cfg.Broker.NATSTLSCAFile, "NATS_TLS_CA_FILE"); err != nil {
			return err
		}
		var jb *jetstream.Broker
		if jb, err = jetstream.New(jetstream.Config{URL: cfg.Broker.NATSURL, Stream: cfg.Broker.NATSStream, Replicas: cfg.Broker.NATSReplicas, TLS: tlsCfg, Topology: cfg.Topology, Logger: a.log, Registerer: a.reg}); err == nil {
			b = jb
		}
	default:
		var jb *jetstream.Broker
		if jb, err = jetstream.New(jetstream.Config{DataDir: filepath.Join(cfg.DataDir, "jetstream"), SyncInterval: cfg.Broker.JetStreamSync, StreamBufferedBytes: cfg.Broker.JetStreamBufferedBytes, Topology: cfg.Topology, Logger: a.log, Registerer: a.reg}); err == nil {
			b = jb
		}
	}
	if err != nil {
		return fmt.Errorf("broker %s: %w", cfg.Broker.Kind, err)
	}
	a.Broker, a.broker = b, b.Component()
	return nil
}

// rabbitNodes lists the AMQP URLs of the RabbitMQ nodes: RABBIT_URLS,
// else RABBIT_ADDRS, else RABBIT_HOST:RABBIT_PORT.
func rabbitNodes(r config.Rabbit) []string {
	if len(r.URLs) > 0 {
		return r.URLs
	}
	addrs := r.Addrs
	if len(addrs) == 0 {
		addrs = []string{net.JoinHostPort(r.Host, strconv.Itoa(r.Port))}
	}
	urls := make([]string, 0, len(addrs))
	for _, a := range addrs {
		host, port, _ := net.SplitHostPort(a) // validated by config
		p, _ := strconv.Atoi(port)
		urls = append(urls, rabbitmq.URL(host, p, r.User, r.Password, r.VHost))
	}
	return urls
}

// tlsClientConfig is the TLS configuration of a client that trusts the
// CA in caFile (named by the variable env in errors); nil when caFile is
// empty (the system's roots apply).
func tlsClientConfig(caFile, env string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
	}
	return tlsconf.Client(caFile, "", env)
}

// Start starts the parts in order (Components): the stores and the broker
// connect, then the consumers, then the servers. It returns once they
// run; a store or broker still connecting leaves the service not ready.
// After an error, call Shutdown.
func (a *App) Start(ctx context.Context) (err error) {
	if err := a.parts.Start(ctx); err != nil {
		a.Reporter.StartFailed(err)
		return err
	}
	return nil
}

// startConsumers starts a consumer per queue.
func (a *App) startConsumers(ctx context.Context) error {
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.consumeCancel = cancel
	m, err := landing.NewMetrics(a.reg)
	if err != nil {
		cancel()
		return err
	}
	tablesOf := make(map[string]string, len(a.cfg.Topology.Queues))
	for _, q := range a.cfg.Topology.Queues {
		tablesOf[q.Name] = strings.Join(q.Tables, ",")
	}
	runner, err := consume.NewRunner(a.Broker, consume.RunnerConfig{Logger: a.log, Registerer: a.reg,
		OnDeadLetter: func(queue string, _ broker.Delivery, reason string) {
			a.Reporter.DeadLetter(queue, tablesOf[queue], reason)
		}})
	if err != nil {
		cancel()
		return err
	}
	budget, err := landing.NewBudget(a.cfg.LandingMaxInflightBytes, a.reg)
	if err != nil {
		cancel()
		return err
	}
	for _, q := range a.cfg.Topology.Queues {
		var handle broker.BatchHandler
		switch q.Handler {
		case topology.HandlerEvents, topology.HandlerJSON:
			h, err := landing.New(q, a.catalog, a.route, a.log, m, budget)
			if err != nil {
				return err
			}
			if h.Pipelined() {
				a.consumePipelined(cctx, runner, q, h)
				continue
			}
			handle = h.Handle
		case topology.HandlerWebEngage:
			h, err := a.webengage.Handler(q)
			if errors.Is(err, webengage.ErrNotConfigured) {
				a.log.Warn("queue not consumed: its WebEngage account is not configured; its messages wait in the queue", "queue", q.Name, "err", err)
				continue
			}
			if err != nil {
				return err
			}
			handle = h.Handle
		default:
			return fmt.Errorf("queue %s: unknown handler %q", q.Name, q.Handler)
		}
		handle = a.reported(q, handle)
		a.consumers.Add(1)
		go func() {
			defer a.consumers.Done()
			defer telemetry.Recover(a.Reporter, "consumer "+q.Name)
			if err := runner.Run(cctx, q, handle); err != nil && cctx.Err() == nil {
				a.log.Error("consumer stopped", "queue", q.Name, "err", err)
				select {
				case a.consumeErrs <- fmt.Errorf("consumer %s: %w", q.Name, err):
				default:
				}
			}
		}()
	}
	return nil
}

// Failed delivers the first consumer failure that stopped a consumer.
func (a *App) Failed() <-chan error { return a.consumeErrs }

// Shutdown stops the parts in the reverse of the start order, which drains
// in order: not ready → grace → stop the servers (running calls finish) →
// webhooks → drain the pipeline → stop the consumers (the batch in hand
// commits and is acked) → close the broker → close the sinks. Each part
// keeps to ctx's deadline. Safe to call twice and before Start.
func (a *App) Shutdown(ctx context.Context) error {
	return a.parts.Shutdown(ctx)
}

// GRPCAddr and HTTPAddr are the bound addresses.
func (a *App) GRPCAddr() net.Addr { return a.GRPC.Addr() }
func (a *App) HTTPAddr() net.Addr { return a.HTTP.Addr() }

// catchAll names the queue bound with '#' to the ingest exchange: every
// accepted event reaches it, so its consumption is what "stored" counts.
func catchAll(top *topology.Topology, exchange string) string {
	for _, q := range top.Queues {
		for _, b := range q.Bindings {
			if b.Exchange == exchange && b.Key == "#" {
				return q.Name
			}
		}
	}
	return ""
}

// consumePipelined runs q's consumers pipelined over h (its rows go to a
// sink that gathers many batches per insert).
func (a *App) consumePipelined(ctx context.Context, runner *consume.Runner, q topology.Queue, h *landing.Handler) {
	handle := a.reportedAsync(q, h.HandleAsync)
	a.consumers.Add(1)
	go func() {
		defer a.consumers.Done()
		defer telemetry.Recover(a.Reporter, "consumer "+q.Name)
		if err := runner.RunPipelined(ctx, q, handle, h.Stalled); err != nil && ctx.Err() == nil {
			a.log.Error("consumer stopped", "queue", q.Name, "err", err)
			select {
			case a.consumeErrs <- fmt.Errorf("consumer %s: %w", q.Name, err):
			default:
			}
		}
	}()
}

// reportedAsync is reported for an AsyncHandler: a panic before the fate
// was given is reported and becomes the batch's transient failure.
func (a *App) reportedAsync(q topology.Queue, h consume.AsyncHandler) consume.AsyncHandler {
	return func(ctx context.Context, batch []broker.Delivery, done func(error)) {
		var once sync.Once
		settle := func(err error) { once.Do(func() { done(err) }) }
		defer func() {
			if v := recover(); v != nil {
				a.Reporter.Panic("consume "+q.Name, v)
				settle(fmt.Errorf("queue %s: handler panicked: %v", q.Name, v))
			}
		}()
		h(ctx, batch, settle)
	}
}

// reported wraps a queue's handler for the error tracker: a panic is
// reported and becomes a transient failure of the batch (held and tried
// again with backoff). Dead letters are reported by the runner once the
// broker confirmed them (consume.RunnerConfig.OnDeadLetter).
func (a *App) reported(q topology.Queue, h broker.BatchHandler) broker.BatchHandler {
	return func(ctx context.Context, batch []broker.Delivery) (err error) {
		defer func() {
			if v := recover(); v != nil {
				a.Reporter.Panic("consume "+q.Name, v)
				err = fmt.Errorf("queue %s: handler panicked: %v", q.Name, v)
			}
		}()
		return h(ctx, batch)
	}
}
