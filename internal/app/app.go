package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/event-grpc/event-grpc/internal/auth"
	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/broker/jetstream"
	"github.com/event-grpc/event-grpc/internal/broker/rabbitmq"
	"github.com/event-grpc/event-grpc/internal/config"
	"github.com/event-grpc/event-grpc/internal/consume"
	"github.com/event-grpc/event-grpc/internal/dedupe"
	"github.com/event-grpc/event-grpc/internal/health"
	"github.com/event-grpc/event-grpc/internal/ingest/grpcsrv"
	"github.com/event-grpc/event-grpc/internal/ingest/httpsrv"
	"github.com/event-grpc/event-grpc/internal/ingest/webhook"
	"github.com/event-grpc/event-grpc/internal/pipeline"
	"github.com/event-grpc/event-grpc/internal/ratelimit"
	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/sink"
	"github.com/event-grpc/event-grpc/internal/sink/clickhouse"
	"github.com/event-grpc/event-grpc/internal/sink/duckdb"
	"github.com/event-grpc/event-grpc/internal/sink/postgres"
	"github.com/event-grpc/event-grpc/internal/sink/webengage"
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

	dedupe        dedupe.Store // nil when DEDUPE_WINDOW=0
	analytics     sink.Sink
	transactional sink.Sink // nil when PostgreSQL is not configured
	webengage     *webengage.Sink
	catalog       schema.Catalog

	consumeCancel context.CancelFunc
	consumers     sync.WaitGroup
	consumeErrs   chan error

	shutdownOnce sync.Once
	shutdownErr  error
}

// New builds every part; nothing listens or consumes until Start.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, reg *prometheus.Registry) (*App, error) {
	a := &App{cfg: cfg, log: log, reg: reg, State: health.New(), catalog: schema.Default(), consumeErrs: make(chan error, 1)}
	ok := false
	defer func() {
		if !ok {
			a.closeAll(context.Background())
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil && needsDataDir(cfg) {
		return nil, fmt.Errorf("DATA_DIR %s: %w", cfg.DataDir, err)
	}
	if err := a.openSinks(ctx); err != nil {
		return nil, err
	}
	if err := a.openBroker(ctx); err != nil {
		return nil, err
	}
	a.State.AddProbe(health.Probe{Name: "broker", Ready: a.Broker.Ready})
	authn, err := auth.New(cfg.Auth, reg, nil)
	if err != nil {
		return nil, err
	}
	if authn.Mode() == auth.ModeOff && cfg.Env != "local" {
		log.Warn("ingest authentication is off (AUTH_MODE=off)")
	}
	limiter, err := ratelimit.New(cfg.RateLimit, reg, nil)
	if err != nil {
		return nil, err
	}
	if a.dedupe, err = dedupe.Open(ctx, cfg.Dedupe, log, reg); err != nil {
		return nil, err
	}
	a.Pipeline = pipeline.New(pipeline.Config{
		Dedupe:           a.dedupe,
		Workers:          cfg.Pipeline.Workers,
		Queue:            cfg.Pipeline.Queue,
		Linger:           cfg.Pipeline.Linger,
		MaxMessageEvents: cfg.Pipeline.MaxMessageEvents,
		MaxEvents:        cfg.Pipeline.MaxEvents,
		MaxEventBytes:    cfg.Pipeline.MaxEventBytes,
		MaxStringLength:  cfg.Pipeline.MaxStringLength,
		MaxParams:        cfg.Pipeline.MaxParams,
		MaxPast:          cfg.Pipeline.MaxPast,
		Exchange:         cfg.Pipeline.Exchange,
		Logger:           log,
		Registerer:       reg,
	}, a.Broker)
	a.GRPC = grpcsrv.New(grpcsrv.Config{Addr: cfg.GRPC.Addr, MaxRecvBytes: cfg.GRPC.MaxRecvBytes, Logger: log,
		// Authentication first: the limiter keys on the authenticated id.
		Interceptors: []grpc.UnaryServerInterceptor{authn.UnaryInterceptor(), limiter.UnaryInterceptor()},
	}, a.Pipeline, a.State)
	var q sink.Querier
	if qq, ok := a.analytics.(sink.Querier); ok {
		q = qq
	}
	a.HTTP = httpsrv.New(httpsrv.Config{
		Addr:         cfg.HTTP.Addr,
		MaxBodyBytes: cfg.HTTP.MaxBodyBytes,
		QueryRemote:  cfg.HTTP.QueryRemote,
		QueryMaxRows: cfg.HTTP.QueryMaxRows,
		Logger:       log,
		Gatherer:     reg,
		Querier:      q,
		// Webhook routes are mounted with HTTP.Webhook and skip this.
		Middleware: func(h http.Handler) http.Handler { return authn.Middleware(limiter.Middleware(h)) },
	}, a.Pipeline, a.State)
	if dl, ok := a.Broker.(broker.DeadLetters); ok {
		a.HTTP.MountAdmin(cfg.Topology, dl)
	}
	a.HTTP.MountAccounting(reg, catchAll(cfg.Topology, cfg.Pipeline.Exchange))
	a.Webhooks = webhook.New(cfg.Webhooks, a.Broker, log, reg)
	for pattern, h := range a.Webhooks.Routes() {
		a.HTTP.Webhook(pattern, h)
	}
	ws, err := webengage.New(cfg.WebEngage, log, reg)
	if err != nil {
		return nil, fmt.Errorf("webengage: %w", err)
	}
	a.webengage = ws
	ok = true
	return a, nil
}

func needsDataDir(cfg *config.Config) bool {
	return cfg.Broker.Kind == config.BrokerJetStream || cfg.Sink.Kind == config.SinkDuckDB
}

func (a *App) openSinks(ctx context.Context) error {
	cfg := a.cfg
	switch cfg.Sink.Kind {
	case config.SinkClickHouse:
		s, err := clickhouse.New(ctx, clickhouse.Config{
			Host: cfg.Sink.ClickHouse.Host, Port: cfg.Sink.ClickHouse.Port,
			User: cfg.Sink.ClickHouse.User, Password: cfg.Sink.ClickHouse.Password,
			Databases: cfg.Sink.ClickHouse.Databases, Logger: a.log, Registerer: a.reg,
		})
		if err != nil {
			return fmt.Errorf("clickhouse: %w", err)
		}
		a.analytics = s
	default:
		if err := os.MkdirAll(filepath.Dir(cfg.Sink.DuckDBPath), 0o755); err != nil {
			return fmt.Errorf("DUCKDB_PATH: %w", err)
		}
		s, err := duckdb.New(ctx, duckdb.Config{Path: cfg.Sink.DuckDBPath, MemoryLimit: cfg.Sink.DuckDBMemoryLimit, CheckpointThreshold: cfg.Sink.DuckDBCheckpointThreshold, Logger: a.log})
		if err != nil {
			return err
		}
		a.analytics = s
	}
	if cfg.Sink.Postgres.Host != "" {
		pg := cfg.Sink.Postgres
		s, err := postgres.New(ctx, postgres.Config{
			Host: pg.Host, Port: pg.Port, User: pg.User, Password: pg.Password, DB: pg.DB, Schema: pg.Schema,
			Logger: a.log, Registerer: a.reg,
		})
		if err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		a.transactional = s
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
	return nil
}

// route picks a table's sink: transactional tables go to PostgreSQL when
// it is configured; everything else to the analytics store.
func (a *App) route(t *schema.Table) sink.Sink {
	if t.Store == schema.Transactional && a.transactional != nil {
		return a.transactional
	}
	return a.analytics
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

func (a *App) openBroker(ctx context.Context) error {
	cfg := a.cfg
	var (
		b   broker.Broker
		err error
	)
	switch cfg.Broker.Kind {
	case config.BrokerRabbitMQ:
		r := cfg.Broker.Rabbit
		b, err = rabbitmq.New(ctx, rabbitmq.Config{
			URL:       rabbitmq.URL(r.Host, r.Port, r.User, r.Password, r.VHost),
			Heartbeat: r.Heartbeat, Topology: cfg.Topology, Logger: a.log, Registerer: a.reg,
		})
	case config.BrokerNATS:
		b, err = jetstream.New(ctx, jetstream.Config{URL: cfg.Broker.NATSURL, Topology: cfg.Topology, Logger: a.log, Registerer: a.reg})
	default:
		b, err = jetstream.New(ctx, jetstream.Config{DataDir: filepath.Join(cfg.DataDir, "jetstream"), Topology: cfg.Topology, Logger: a.log, Registerer: a.reg})
	}
	if err != nil {
		return fmt.Errorf("broker %s: %w", cfg.Broker.Kind, err)
	}
	a.Broker = b
	return nil
}

// Start starts the consumers, then the servers. It returns once they run.
func (a *App) Start(ctx context.Context) error {
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.consumeCancel = cancel
	m := consume.NewMetrics(a.reg)
	for _, q := range a.cfg.Topology.Queues {
		var handle broker.BatchHandler
		switch q.Handler {
		case topology.HandlerEvents, topology.HandlerJSON:
			h, err := consume.New(q, a.catalog, a.route, a.log, m)
			if err != nil {
				return err
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
		a.consumers.Add(1)
		go func() {
			defer a.consumers.Done()
			if err := a.Broker.Consume(cctx, q, handle); err != nil && cctx.Err() == nil {
				a.log.Error("consumer stopped", "queue", q.Name, "err", err)
				select {
				case a.consumeErrs <- fmt.Errorf("consumer %s: %w", q.Name, err):
				default:
				}
			}
		}()
	}
	if err := a.GRPC.Start(ctx); err != nil {
		return err
	}
	if err := a.HTTP.Start(ctx); err != nil {
		return err
	}
	return nil
}

// Failed delivers the first consumer failure that stopped a consumer.
func (a *App) Failed() <-chan error { return a.consumeErrs }

// Shutdown drains in order: not ready → grace → stop the servers (running
// calls finish) → drain the pipeline → stop the consumers (the batch in
// hand commits and is acked) → close the broker → close the sinks. Safe to
// call twice.
func (a *App) Shutdown(ctx context.Context) error {
	a.shutdownOnce.Do(func() {
		var errs []error
		a.State.SetBeat(false)
		if g := a.cfg.ShutdownGrace; g > 0 {
			a.log.Info("not ready; waiting for load balancers", "grace", g)
			select {
			case <-time.After(g):
			case <-ctx.Done():
			}
		}
		if a.GRPC != nil {
			errs = append(errs, a.GRPC.Shutdown(ctx))
		}
		if a.HTTP != nil {
			errs = append(errs, a.HTTP.Shutdown(ctx))
		}
		if a.Webhooks != nil {
			errs = append(errs, a.Webhooks.Shutdown(ctx))
		}
		if a.Pipeline != nil {
			errs = append(errs, a.Pipeline.Shutdown(ctx))
		}
		if a.consumeCancel != nil {
			a.consumeCancel()
			done := make(chan struct{})
			go func() { a.consumers.Wait(); close(done) }()
			select {
			case <-done:
			case <-ctx.Done():
				errs = append(errs, fmt.Errorf("consumers drain: %w", ctx.Err()))
			}
		}
		errs = append(errs, a.closeAll(ctx))
		a.shutdownErr = errors.Join(errs...)
	})
	return a.shutdownErr
}

func (a *App) closeAll(ctx context.Context) error {
	var errs []error
	if a.Webhooks != nil {
		errs = append(errs, a.Webhooks.Shutdown(ctx))
	}
	if a.webengage != nil {
		a.webengage.Close()
	}
	if a.Broker != nil {
		errs = append(errs, a.Broker.Close(ctx))
	}
	if a.dedupe != nil { // after the pipeline drained: its workers Commit/Forget
		errs = append(errs, a.dedupe.Close())
	}
	if a.analytics != nil {
		errs = append(errs, a.analytics.Close(ctx))
	}
	if a.transactional != nil {
		errs = append(errs, a.transactional.Close(ctx))
	}
	return errors.Join(errs...)
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
