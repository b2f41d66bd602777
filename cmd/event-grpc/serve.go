package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/event-grpc/event-grpc/internal/app"
	"github.com/event-grpc/event-grpc/internal/config"
	"github.com/event-grpc/event-grpc/internal/telemetry"
)

func loadConfig() (*config.Config, error) {
	return config.Load(os.LookupEnv, ".")
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
	log.Info("event-grpc ready", "env", cfg.Env, "grpc", a.GRPCAddr().String(), "http", a.HTTPAddr().String(),
		"broker", cfg.Broker.Kind, "sink", cfg.Sink.Kind, "data_dir", cfg.DataDir,
		"memory_limit", cfg.MemoryLimit, "go_memory_limit", debug.SetMemoryLimit(-1), "duckdb_memory_limit", cfg.Sink.DuckDBMemoryLimit)

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
