package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/event-grpc/event-grpc/internal/component"
	"github.com/event-grpc/event-grpc/internal/health"
)

// reporterFlush is the longest the error reporter may take to send what it
// holds at shutdown (less when the shutdown deadline is nearer).
const reporterFlush = 2 * time.Second

// components lists the service's parts in start order. Shutdown stops them
// in the reverse order, which is the drain: not ready → grace → servers
// (running calls finish) → webhooks → pipeline → consumers (the batch in
// hand commits and is acked) → broker → dedupe → stores → error reporter.
// Readiness probes come from the parts that are Readiers, in this order.
// Parts not built (a failed New, PostgreSQL not configured) are left out;
// every part's Shutdown is safe before its Start.
func (a *App) components() *component.Group {
	g := &component.Group{}
	g.Add("error reporter", component.Funcs{ShutdownFunc: a.flushReporter})
	if a.analytics != nil {
		g.Add("analytics store", a.analytics)
	}
	if a.transactional != nil {
		g.Add("transactional store", a.transactional)
	}
	if a.coalescer != nil { // its Shutdown inserts the last rows, then closes the analytics store
		g.Add("analytics coalescer", component.Funcs{ShutdownFunc: a.coalescer.Close})
	}
	if a.authn != nil { // the shared replay cache's Redis connections
		g.Add("authenticator", component.Funcs{ShutdownFunc: func(context.Context) error { return a.authn.Close() }})
	}
	if a.dedupe != nil { // stopped after the pipeline drained: its workers Commit/Forget
		g.Add("dedupe", a.dedupe)
	}
	if a.broker != nil {
		g.Add("broker", a.broker)
	}
	if a.webengage != nil {
		g.Add("webengage", component.Funcs{ShutdownFunc: func(context.Context) error { a.webengage.Close(); return nil }})
	}
	if a.Pipeline != nil { // consumers need the broker and the stores; they start once both are in the list
		g.Add("consumers", component.Funcs{StartFunc: a.startConsumers, ShutdownFunc: a.stopConsumers})
		g.Add("pipeline", component.Funcs{ShutdownFunc: a.Pipeline.Shutdown})
	}
	if a.Webhooks != nil { // after the HTTP server stopped: its queued requests publish
		g.Add("webhooks", component.Funcs{ShutdownFunc: a.Webhooks.Shutdown})
	}
	if a.History != nil {
		g.Add("status history", component.Funcs{
			StartFunc: func(context.Context) error { a.History.Start(); return nil }, ShutdownFunc: a.History.Shutdown,
		})
	}
	if a.HTTP != nil {
		g.Add("http server", a.HTTP)
	}
	if a.GRPC != nil {
		g.Add("grpc server", a.GRPC)
	}
	g.Add("readiness", &readiness{state: a.State, grace: a.cfg.ShutdownGrace, log: a.log})
	return g
}

// addProbes makes the parts that can be not ready (the broker, the
// stores) readiness probes: /ready fails while one of them is not.
func (a *App) addProbes() {
	for _, p := range a.parts.Probes() {
		a.State.AddProbe(health.Probe{Name: p.Name, Ready: func() bool { return p.Ready() == nil }})
	}
}

// Components names the service's parts in start order (they stop in the
// reverse order).
func (a *App) Components() []string { return a.parts.Names() }

func (a *App) flushReporter(ctx context.Context) error {
	d := reporterFlush
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl))
	}
	if d > 0 {
		a.Reporter.Flush(d)
	}
	return nil
}

// stopConsumers cancels the consumers and waits, within ctx, for each to
// settle the batch in hand (commit and ack). Safe before startConsumers
// and twice.
func (a *App) stopConsumers(ctx context.Context) error {
	if a.consumeCancel == nil {
		return nil
	}
	a.consumeCancel()
	if a.coalescer != nil {
		a.coalescer.Drain() // the batches in hand land now, not after an interval
	}
	done := make(chan struct{})
	go func() { a.consumers.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("consumers drain: %w", ctx.Err())
	}
}

// readiness is the first part to stop: its Shutdown turns the heartbeat
// off (/ready and gRPC health say not serving) and, when the service was
// serving, waits the grace period for load balancers to notice, within
// ctx and once.
type readiness struct {
	state   *health.State
	grace   time.Duration
	log     *slog.Logger
	started atomic.Bool
	once    sync.Once
}

func (r *readiness) Start(context.Context) error {
	r.started.Store(true)
	return nil
}

func (r *readiness) Shutdown(ctx context.Context) error {
	r.state.SetBeat(false)
	if !r.started.Load() || r.grace <= 0 {
		return nil
	}
	r.once.Do(func() {
		r.log.Info("not ready; waiting for load balancers", "grace", r.grace)
		t := time.NewTimer(r.grace)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	})
	return nil
}
