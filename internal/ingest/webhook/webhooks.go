package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/dedupe"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/ingest/httpsrv"
	"github.com/event-grpc/event-grpc/internal/telemetry"
)

// spec describes one provider: where it is mounted, where it publishes, how
// its requests are verified and read.
type spec struct {
	name     string // metric label and x-source header
	env      string // prefix of its environment variables
	path     string
	exchange string
	// verify returns an error wrapping ErrUnauthorized when the request is
	// not the provider's; an empty secret accepts every request.
	verify func(secret string, req *request) error
	// parse returns the messages to publish, or a permanent error (400)
	// that says what is wrong with the body.
	parse func(req *request) (parsed, error)
	// dedupe: parsed.id names the delivery; repeats within the window are
	// answered without publishing (see window.go).
	dedupe bool
	// keyFrom and idFrom name where the routing key and the message id
	// come from, for the error when one is over the broker's limit.
	keyFrom, idFrom string
}

// parsed is a request read by its provider.
type parsed struct {
	msgs   []broker.Message
	events int    // objects the messages hold
	id     string // the delivery's id, for the de-duplication window
}

// specs lists the providers in the order their routes are reported.
var specs = []spec{branch, webengage, vidooly, shopify, graphy}

// Webhooks serves every provider's endpoint.
type Webhooks struct {
	log       *slog.Logger
	m         *metrics
	now       func() time.Time
	endpoints []*endpoint
	own       dedupe.Store // the window New opened itself, closed by Shutdown
	// windowLogs lets a window error be logged once a minute; each is counted.
	windowLogs *telemetry.Every
	once       sync.Once
	err        error
}

type endpoint struct {
	spec
	cfg    Provider
	pool   *pool
	window dedupe.Deduper // nil: repeats are not looked for
	// windowFailed counts and logs an error of the window's op (claim,
	// commit, forget); set with window.
	windowFailed func(op string, err error)
}

type metrics struct {
	requests   *prometheus.CounterVec
	events     *prometheus.CounterVec
	duplicates *prometheus.CounterVec
	queued     *prometheus.GaugeVec
	publish    *prometheus.HistogramVec
	window     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests:   telemetry.NewCounterVec("eventgrpc_webhook_requests_total", "Webhook requests answered, by provider and HTTP status.", "provider", "code"),
		events:     telemetry.NewCounterVec("eventgrpc_webhook_events_total", "Webhook events (JSON objects) made durable in the broker, by provider.", "provider"),
		duplicates: telemetry.NewCounterVec("eventgrpc_webhook_duplicates_total", "Repeated webhook deliveries answered without publishing again, by provider.", "provider"),
		window:     telemetry.NewCounterVec("eventgrpc_webhook_window_errors_total", "Errors of the webhook de-duplication window, by operation (claim: the delivery was published unchecked; commit, forget).", "op"),
		queued:     telemetry.NewGaugeVec("eventgrpc_webhook_queued", "Webhook requests waiting for a publishing worker, by provider.", "provider"),
		publish:    telemetry.NewHistogramVec("eventgrpc_webhook_publish_seconds", "Time to publish one webhook request and get the broker's confirm, by provider.", prometheus.ExponentialBuckets(0.0005, 2, 14), "provider"),
	}
	if err := errors.Join(
		telemetry.Register(reg, &m.requests, &m.events, &m.duplicates, &m.window),
		telemetry.Register(reg, &m.queued),
		telemetry.Register(reg, &m.publish),
	); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	return m, nil
}

// New starts every provider's worker pool. pub is the broker; window is
// the service's de-duplication window, shared with the pipeline (nil: New
// opens a local one of cfg.DedupeWindow ids, unless that is 0); log may be
// nil (slog.Default), reg may be nil (no metrics). Unauthenticated lists
// the providers that accept requests without a secret, for the caller to
// report (only ENV=local allows one).
func New(cfg Config, pub broker.Publisher, window dedupe.Deduper, log *slog.Logger, reg prometheus.Registerer) (*Webhooks, error) {
	if log == nil {
		log = slog.Default()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	w := &Webhooks{log: log, m: m, now: time.Now, windowLogs: telemetry.NewEvery(time.Minute)}
	switch {
	case cfg.DedupeWindow == 0:
		window = nil
	case window == nil:
		if w.own, err = openWindow(cfg.DedupeWindow, log, reg); err != nil {
			return nil, err
		}
		window = w.own
	}
	for _, s := range specs {
		pc := s.config(&cfg)
		pc.Workers = max(1, pc.Workers)
		pc.Queue = max(0, pc.Queue)
		e := &endpoint{spec: s, cfg: pc}
		hint := fmt.Sprintf("%s_EVENT_BUFFERED_CHANNEL_SIZE=%d, %s_EVENT_WORKER_POOL_SIZE=%d", s.env, pc.Queue, s.env, pc.Workers)
		e.pool = newPool(pub, pc.Workers, pc.Queue, hint, w.m.queued.WithLabelValues(s.name), w.m.publish.WithLabelValues(s.name))
		if s.dedupe {
			e.window = window
			e.windowFailed = func(op string, err error) { w.windowFailed(s.name, op, err) }
		}
		w.endpoints = append(w.endpoints, e)
	}
	return w, nil
}

// Unauthenticated returns the secret variables (BRANCH_WEBHOOK_SECRET, …)
// of the enabled providers that have none and so accept unauthenticated
// requests.
func (w *Webhooks) Unauthenticated() []string {
	var out []string
	for _, e := range w.endpoints {
		if e.cfg.Enabled && e.cfg.Secret == "" {
			out = append(out, e.spec.env+"_WEBHOOK_SECRET")
		}
	}
	return out
}

func (s spec) config(c *Config) Provider {
	for _, p := range providerEnv {
		if p.prefix == s.env {
			return *p.get(c)
		}
	}
	panic("webhook: no configuration for provider " + s.name)
}

// Routes returns the handlers by mux pattern ("POST /branch/event", …), to
// be mounted with httpsrv.Server.Ingest, which bounds the body.
func (w *Webhooks) Routes() map[string]http.Handler {
	out := make(map[string]http.Handler, len(w.endpoints))
	for _, e := range w.endpoints {
		if !e.cfg.Enabled {
			continue
		}
		out["POST "+e.path] = w.handler(e)
	}
	return out
}

// Shutdown stops taking requests and waits, within ctx, for the queued
// ones to be published. Call it after the HTTP server stopped. Safe to call
// twice.
func (w *Webhooks) Shutdown(ctx context.Context) error {
	w.once.Do(func() {
		errs := make([]error, len(w.endpoints))
		var wg sync.WaitGroup
		for i, e := range w.endpoints {
			wg.Go(func() { errs[i] = e.pool.shutdown(ctx) })
		}
		wg.Wait()
		if w.own != nil { // the requests in hand have settled: the HTTP server stopped first
			errs = append(errs, w.own.Close())
		}
		w.err = errors.Join(errs...)
	})
	return w.err
}

// Accepted is the body of a 200 answer.
type Accepted struct {
	Events    int  `json:"events"`
	Duplicate bool `json:"duplicate,omitempty"`
}

func (w *Webhooks) handler(e *endpoint) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: rw}
		defer func() { w.m.requests.WithLabelValues(e.name, strconv.Itoa(sw.status())).Inc() }()
		if !httpsrv.RequireJSON(sw, r) {
			return
		}
		body, ok := httpsrv.ReadBody(sw, r)
		if !ok {
			return
		}
		req := &request{header: r.Header, query: r.URL.Query(), body: body, now: w.now(), authenticated: e.cfg.Secret != ""}
		if err := e.verify(e.cfg.Secret, req); err != nil {
			httpsrv.Error(sw, http.StatusUnauthorized, err)
			return
		}
		p, err := e.parse(req)
		if err == nil {
			err = checkFrames(p, e.keyFrom, e.idFrom)
		}
		if errors.Is(err, ErrUnauthorized) {
			httpsrv.Error(sw, http.StatusUnauthorized, err)
			return
		}
		if err != nil {
			httpsrv.Fail(sw, err) // permanent: 400
			return
		}
		key, dup, claimed := e.claim(r.Context(), p.id)
		if dup {
			w.m.duplicates.WithLabelValues(e.name).Inc()
			ok200(sw, Accepted{Events: p.events, Duplicate: true})
			return
		}
		err = e.pool.run(r.Context(), e.exchange, p.msgs)
		e.settle(r.Context(), key, claimed, err)
		if err != nil {
			httpsrv.Fail(sw, classify(err))
			return
		}
		w.m.events.WithLabelValues(e.name).Add(float64(p.events))
		ok200(sw, Accepted{Events: p.events})
	})
}

// classify maps a publish error to the answer: an overloaded broker is
// throttled (429), a client that gave up keeps its context error, a
// message no queue takes is refused (400: retrying cannot help), and
// anything else — broker down, closed, a topology that routes nowhere —
// is transient (503), so the provider retries.
func classify(err error) error {
	switch {
	case fault.KindOf(err) != fault.KindTransient:
		return err // the pool's own refusal
	case errors.Is(err, broker.ErrOverloaded):
		return fault.Throttled(err, time.Second)
	case errors.Is(err, broker.ErrUnroutable):
		// No queue takes it: its consumer is not configured on this
		// server (see app: unconsumed queues are not declared). Retrying
		// cannot help, so the provider is told at once.
		return fault.Permanentf("this server keeps no queue for it (its destination is not configured): %v", err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return fault.Transient(err)
}

func ok200(w http.ResponseWriter, a Accepted) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	json.NewEncoder(w).Encode(a)
}

// statusWriter remembers the status written, for the metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusWriter) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}
