package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/event-grpc/event-grpc/internal/app"
	"github.com/event-grpc/event-grpc/internal/buildinfo"
	"github.com/event-grpc/event-grpc/internal/config"
	"github.com/event-grpc/event-grpc/internal/health"
	"github.com/event-grpc/event-grpc/internal/telemetry"
)

func loadConfig() (*config.Config, error) {
	return config.Load(os.LookupEnv, ".")
}

// logReadiness logs "event-grpc ready" once the service is ready, and
// until then "event-grpc starting, not ready: waiting for rabbitmq" (the
// dependency it waits for), again each time the reason changes.
func logReadiness(ctx context.Context, log *slog.Logger, st *health.State, cfg *config.Config, attrs []any) {
	changed := st.Changed()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		ok, why := st.Ready()
		if ok {
			log.Info("event-grpc ready", attrs...)
			return
		}
		if w := waitingFor(why, cfg); w != last {
			last = w
			log.Info("event-grpc starting, not ready: "+w, attrs...)
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-tick.C:
		}
	}
}

// waitingFor turns a readiness reason ("broker is not ready") into what
// an operator recognises ("waiting for rabbitmq").
func waitingFor(why string, cfg *config.Config) string {
	name, ok := strings.CutSuffix(why, " is not ready")
	if !ok {
		return why
	}
	switch name {
	case "broker":
		if cfg.Broker.Kind == config.BrokerJetStream {
			return "waiting for the embedded jetstream broker"
		}
		return "waiting for " + cfg.Broker.Kind
	case "analytics store":
		return "waiting for " + cfg.Sink.Kind
	case "transactional store":
		return "waiting for postgres"
	}
	return "waiting for " + name
}

// statusURL is the status page's address as a browser on this machine
// opens it.
func statusURL(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "http://" + a.String() + "/"
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

// limitText shows a byte limit; 0 and math.MaxInt64 (the runtime's "no
// limit") as "no limit".
func limitText(n int64) string {
	if n <= 0 || n == math.MaxInt64 {
		return "no limit"
	}
	const mib = 1 << 20
	if n%mib == 0 {
		return strconv.FormatInt(n/mib, 10) + "MiB"
	}
	return strconv.FormatInt(n, 10) + "B"
}

func orDefault(s string) string {
	if s == "" {
		return "duckdb's default"
	}
	return s
}

func serve(ctx context.Context, stopSignals context.CancelFunc, stderr io.Writer) error {
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	log := telemetry.NewLogger(stderr, cfg.Log.Level, cfg.Log.Format)
	if cfg.GoMemoryLimit > 0 {
		debug.SetMemoryLimit(cfg.GoMemoryLimit)
	}
	reg := telemetry.NewRegistry()
	a, err := app.New(ctx, cfg, log, reg)
	if err != nil {
		return err
	}
	if err := a.Start(ctx); err != nil {
		a.Shutdown(context.Background())
		return err
	}
	attrs := []any{"env", cfg.Env, "version", buildinfo.Get().Short(), "grpc", a.GRPCAddr().String(), "http", a.HTTPAddr().String(),
		"status_page", statusURL(a.HTTPAddr()), "broker", cfg.Broker.Kind, "sink", cfg.Sink.Kind, "data_dir", cfg.DataDir,
		"memory_limit", limitText(cfg.MemoryLimit), "memory_limit_from", cfg.MemoryLimitFrom, "go_memory_limit", limitText(debug.SetMemoryLimit(-1)), "duckdb_memory_limit", orDefault(cfg.Sink.DuckDBMemoryLimit)}
	go logReadiness(ctx, log, a.State, cfg, attrs)
	var cause error
	select {
	case <-ctx.Done():
		log.Info("signal received; draining (a second signal forces exit)", "timeout", cfg.ShutdownTimeout)
	case cause = <-a.Failed():
		log.Error("a consumer failed; shutting down", "err", cause)
	}
	stopSignals()
	// A second signal ends the process at once.
	force := make(chan os.Signal, 1)
	signal.Notify(force, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-force
		log.Error("second signal: exiting without finishing the drain")
		os.Exit(1)
	}()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := a.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped cleanly")
	if cause != nil {
		return errors.Join(cause)
	}
	return nil
}
