package webengage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/telemetry"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// ErrNotConfigured is returned by Handler when the queue's account has no
// URL or API key: the queue cannot be consumed (its messages wait).
var ErrNotConfigured = errors.New("webengage: not configured")

// Queue options that choose where a queue's messages go.
const (
	OptionAPI     = "api"     // events | users
	OptionAccount = "account" // empty (the main account) | brand
)

// MaxExcerpt bounds the part of WebEngage's answer kept in a failure
// reason.
const MaxExcerpt = 200

// Sink holds what the handlers of every webengage queue share: the HTTP
// client, one semaphore per API key, the memory of deliveries sent, and
// the metrics.
type Sink struct {
	cfg    Config
	log    *slog.Logger
	client *http.Client
	own    bool // the client is ours to close
	m      *metrics
	sent   *memo

	mu   sync.Mutex
	sems map[string]chan struct{} // API key → slots
}

// New builds the sink. log may be nil (slog.Default), reg may be nil (no
// metrics).
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Sink, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	s := &Sink{cfg: cfg, log: log, client: cfg.HTTPClient, m: m, sems: map[string]chan struct{}{},
		sent: newMemo(cfg.Remember, cfg.RememberFor)}
	if s.client == nil {
		s.client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		s.own = true
	}
	return s, nil
}

// Close releases idle connections of the sink's own HTTP client. Safe to
// call twice.
func (s *Sink) Close() {
	if s.own {
		s.client.CloseIdleConnections()
	}
}

func (s *Sink) semaphore(key string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	sem, ok := s.sems[key]
	if !ok {
		sem = make(chan struct{}, s.cfg.Concurrency)
		s.sems[key] = sem
	}
	return sem
}

// Handler is the handler of one webengage queue.
type Handler struct {
	s       *Sink
	queue   string
	url     string
	key     string
	api     string
	account string
	sem     chan struct{}
	lbl     prometheus.Labels
}

// NewHandler builds a sink for one queue and its handler. Several queues
// share API keys and metrics: build one Sink with New and call its Handler
// per queue instead.
func NewHandler(q topology.Queue, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Handler, error) {
	s, err := New(cfg, log, reg)
	if err != nil {
		return nil, err
	}
	return s.Handler(q)
}

// Handler returns the handler of q, whose Options choose the API (api:
// events | users) and the account (account: brand, else the main one).
// It fails with ErrNotConfigured when that account's URL or key is empty.
func (s *Sink) Handler(q topology.Queue) (*Handler, error) {
	h := &Handler{s: s, queue: q.Name, api: q.Options[OptionAPI], account: q.Options[OptionAccount]}
	// setting is a configured value and the variable it comes from.
	type setting struct{ value, env string }
	var key setting
	var urls map[string]setting // by API
	switch h.account {
	case "":
		h.account = "main"
		key = setting{s.cfg.APIKey, "WEBENGAGE_API_KEY"}
		urls = map[string]setting{"events": {s.cfg.EventsURL, "WEBENGAGE_URL"}, "users": {s.cfg.UsersURL, "WEBENGAGE_USER_URL"}}
	case "brand":
		key = setting{s.cfg.BrandAPIKey, "WEBENGAGE_BRAND_API_KEY"}
		urls = map[string]setting{"events": {s.cfg.BrandEventsURL, "WEBENGAGE_BRAND_URL"}, "users": {s.cfg.BrandUsersURL, "WEBENGAGE_BRAND_USER_URL"}}
	default:
		return nil, fmt.Errorf("webengage: queue %s: option account %q is not empty or brand", q.Name, h.account)
	}
	url := urls[h.api]
	h.key, h.url = key.value, url.value
	if url.env == "" {
		return nil, fmt.Errorf("webengage: queue %s: option api %q is not events or users", q.Name, h.api)
	}
	if h.url == "" {
		return nil, fmt.Errorf("%w: queue %s needs %s", ErrNotConfigured, q.Name, url.env)
	}
	if h.key == "" {
		return nil, fmt.Errorf("%w: queue %s needs %s", ErrNotConfigured, q.Name, key.env)
	}
	h.sem = s.semaphore(h.key)
	h.lbl = prometheus.Labels{"api": h.api, "account": h.account}
	return h, nil
}

// item is one API call: a delivery, or one object of a delivery that
// holds a JSON array.
type item struct {
	delivery int
	key      string // what the memory of sent deliveries knows it by
	body     []byte
}

// Handle implements broker.BatchHandler: it POSTs every delivery (each
// object of a JSON array separately) that was not sent before, at most
// Concurrency at once per API key. A permanent refusal fails that delivery
// (*broker.FailedMessages); a transient failure that outlasts the
// in-process retries holds the whole batch (a plain error) — what did
// succeed is remembered and not sent again when the batch comes back.
func (h *Handler) Handle(ctx context.Context, batch []broker.Delivery) error {
	failed := map[int]error{}
	var items []item
	for i, d := range batch {
		its, err := h.items(i, d)
		if err != nil {
			failed[i] = err
			h.s.m.deliveries.WithLabelValues(h.queue, "malformed").Inc()
			continue
		}
		// A permanent refusal of this attempt of the delivery (a held
		// batch handed again) is not asked again.
		if err, ok := h.s.sent.get(failKey(d, its)); ok && err != nil {
			failed[i] = err
			continue
		}
		for _, it := range its {
			if err, ok := h.s.sent.get(it.key); ok && err == nil {
				h.s.m.deliveries.WithLabelValues(h.queue, "skipped").Inc()
				continue
			}
			items = append(items, it)
		}
	}

	errs := make([]error, len(items))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(items), h.s.cfg.Concurrency) {
		wg.Go(func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= len(items) {
					return
				}
				errs[k] = h.send(ctx, items[k])
			}
		})
	}
	wg.Wait()

	var transient error
	held := 0
	for k, it := range items {
		switch err := errs[k]; {
		case err == nil:
			h.s.sent.put(it.key, nil)
			h.s.m.deliveries.WithLabelValues(h.queue, "sent").Inc()
		case fault.IsPermanent(err):
			if failed[it.delivery] == nil {
				failed[it.delivery] = err
			}
			h.s.m.deliveries.WithLabelValues(h.queue, "failed").Inc()
		default:
			held++
			if transient == nil {
				transient = err
			}
		}
	}
	if transient != nil {
		for i, err := range failed {
			its, _ := h.items(i, batch[i])
			h.s.sent.put(failKey(batch[i], its), err)
		}
		h.s.m.deliveries.WithLabelValues(h.queue, "held").Add(float64(held))
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("webengage: %d of %d requests failed after %d retries, the batch is held: %w", held, len(items), h.s.cfg.Retries, transient)
	}
	if len(failed) > 0 {
		return &broker.FailedMessages{Failed: failed}
	}
	return nil
}

// failKey names one attempt (retry count) of a delivery, for remembering
// its permanent refusal while its batch is held.
func failKey(d broker.Delivery, its []item) string {
	base := d.Queue + "|" + d.ID
	if len(its) > 0 {
		base = its[0].key
	}
	return "failed|" + base + "|" + strconv.Itoa(d.RetryCount)
}

// items splits a delivery into its API calls. A body that is not a JSON
// object, or an array of them, is a permanent error.
func (h *Handler) items(i int, d broker.Delivery) ([]item, error) {
	body := bytes.TrimSpace(d.Body)
	// The memory of sent calls knows a call by what it sends, never by the
	// message id alone: a client-chosen id shared by two different bodies
	// must not make the second look sent.
	key := func(b []byte) string {
		sum := sha256.Sum256(b)
		return h.queue + "|sha256:" + hex.EncodeToString(sum[:])
	}
	if len(body) > 0 && body[0] == '[' {
		var raws []json.RawMessage
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, fault.Permanentf("webengage: message is not valid JSON: %v", err)
		}
		if len(raws) == 0 {
			return nil, fault.Permanentf("webengage: message is an empty array")
		}
		out := make([]item, 0, len(raws))
		for n, raw := range raws {
			if err := h.check(raw); err != nil {
				return nil, fault.Permanentf("webengage: array element %d: %v", n, err)
			}
			out = append(out, item{delivery: i, key: key(raw) + "#" + strconv.Itoa(n), body: raw})
		}
		return out, nil
	}
	if err := h.check(body); err != nil {
		return nil, fault.Permanentf("webengage: message %v", err)
	}
	return []item{{delivery: i, key: key(body), body: body}}, nil
}

// check makes sure b is a JSON object the API can take: an event names
// itself and its user, a user update names the user.
func (h *Handler) check(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("is not a JSON object: %v", err)
	}
	if dec.More() {
		return errors.New("holds more than one JSON value")
	}
	if doc == nil {
		return errors.New("is null, not a JSON object")
	}
	str := func(k string) string { s, _ := doc[k].(string); return s }
	switch h.api {
	case "events":
		if str("eventName") == "" {
			return errors.New("has no eventName")
		}
		if str("userId") == "" && str("anonymousId") == "" {
			return errors.New("has neither userId nor anonymousId (as a string)")
		}
	case "users":
		if str("userId") == "" {
			return errors.New("has no userId (as a string)")
		}
	}
	return nil
}

// send POSTs one item, retrying transient failures in process. The error
// is permanent (the API refused it) or transient (it may work later).
func (h *Handler) send(ctx context.Context, it item) error {
	for attempt := 0; ; attempt++ {
		retryAfter, err := h.post(ctx, it.body)
		if err == nil || fault.IsPermanent(err) {
			return err
		}
		if ctx.Err() != nil || attempt >= h.s.cfg.Retries || errors.As(err, new(*ConfigError)) {
			return err
		}
		h.s.m.retries.With(h.lbl).Inc()
		wait := h.s.cfg.Backoff.Delay(attempt)
		if retryAfter > 0 {
			wait = min(retryAfter, h.s.cfg.MaxRetryAfter)
			h.s.m.retryAfterWaits.With(h.lbl).Inc()
			h.s.m.retryAfterSeconds.With(h.lbl).Add(wait.Seconds())
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fault.Transient(ctx.Err())
		case <-t.C:
		}
	}
}

// post makes one request, holding a slot of the API key's semaphore for
// its duration. It returns the Retry-After the answer asked for.
func (h *Handler) post(ctx context.Context, body []byte) (time.Duration, error) {
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return 0, fault.Transient(ctx.Err())
	}
	defer func() { <-h.sem }()

	rctx, cancel := context.WithTimeout(ctx, h.s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return 0, fault.Permanent(fmt.Errorf("webengage: request: %w", err))
	}
	req.Header.Set("Authorization", "Bearer "+h.key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	start := time.Now()
	resp, err := h.s.client.Do(req)
	h.s.m.seconds.With(h.lbl).Observe(time.Since(start).Seconds())
	if err != nil {
		h.s.m.requests.WithLabelValues(h.api, h.account, "error").Inc()
		return 0, fault.Transient(fmt.Errorf("webengage: %w", err))
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so the connection can be reused
	code := resp.StatusCode
	h.s.m.requests.WithLabelValues(h.api, h.account, class(code)).Inc()
	switch {
	case code >= 200 && code < 300:
		return 0, nil
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500:
		return retryAfter(resp.Header.Get("Retry-After"), time.Now()), fmt.Errorf("webengage %d: %s", code, excerpt(head))
	case code == http.StatusUnauthorized || code == http.StatusForbidden || code == http.StatusNotFound:
		// A rotated key or a wrong URL is the operator's to fix, and says
		// nothing about the event: the batch is held (transient) rather
		// than every message dead-lettered, and the refusal is counted
		// (eventgrpc_webengage_config_errors_total) and logged, for an
		// alert.
		h.s.m.configErrors.WithLabelValues(h.api, h.account, strconv.Itoa(code)).Inc()
		h.s.log.Error("WebEngage refuses the service's key or URL; the queue is held until it is fixed",
			"queue", h.queue, "api", h.api, "account", h.account, "status", code, "answer", excerpt(head))
		return 0, &ConfigError{Code: code, Answer: excerpt(head)}
	case code >= 400:
		return 0, fault.Permanentf("webengage %d: %s", code, excerpt(head))
	}
	return 0, fmt.Errorf("webengage: unexpected status %d: %s", code, excerpt(head))
}

func class(code int) string {
	switch {
	case code == http.StatusTooManyRequests:
		return "429"
	case code >= 200 && code < 300:
		return "2xx"
	case code >= 400 && code < 500:
		return "4xx"
	case code >= 500:
		return "5xx"
	}
	return "other"
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, 86400)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// excerpt is at most MaxExcerpt bytes of an answer, on one line.
func excerpt(b []byte) string {
	s := strings.ToValidUTF8(string(bytes.TrimSpace(b)), "?")
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > MaxExcerpt {
		cut := MaxExcerpt
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	if s == "" {
		return "(empty answer)"
	}
	return s
}

// ConfigError is WebEngage's 401, 403 or 404: the API key or the URL is
// wrong. It is transient for the consumer (the batch is held and tried
// again with backoff) — fixing the configuration lets the held messages
// through, none is dead-lettered for it.
type ConfigError struct {
	Code   int
	Answer string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("webengage %d: the API key or URL is refused (check WEBENGAGE_* settings): %s", e.Code, e.Answer)
}

type metrics struct {
	configErrors      *prometheus.CounterVec
	requests          *prometheus.CounterVec
	retries           *prometheus.CounterVec
	retryAfterWaits   *prometheus.CounterVec
	retryAfterSeconds *prometheus.CounterVec
	seconds           *prometheus.HistogramVec
	deliveries        *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		configErrors:      telemetry.NewCounterVec("eventgrpc_webengage_config_errors_total", "WebEngage answers 401, 403 or 404 (a wrong API key or URL): the queue's batch is held, not dead-lettered. Alert on any increase.", "api", "account", "code"),
		requests:          telemetry.NewCounterVec("eventgrpc_webengage_requests_total", "WebEngage API requests, by API, account and answer class (2xx, 4xx, 429, 5xx, error).", "api", "account", "class"),
		retries:           telemetry.NewCounterVec("eventgrpc_webengage_retries_total", "WebEngage API requests retried in process after a transient failure.", "api", "account"),
		retryAfterWaits:   telemetry.NewCounterVec("eventgrpc_webengage_retry_after_waits_total", "Retries that waited the Retry-After WebEngage asked for.", "api", "account"),
		retryAfterSeconds: telemetry.NewCounterVec("eventgrpc_webengage_retry_after_seconds_total", "Seconds waited on WebEngage's Retry-After.", "api", "account"),
		seconds:           telemetry.NewHistogramVec("eventgrpc_webengage_request_seconds", "Time of one WebEngage API request.", prometheus.ExponentialBuckets(0.005, 2, 12), "api", "account"),
		deliveries:        telemetry.NewCounterVec("eventgrpc_webengage_deliveries_total", "WebEngage API calls by queue and outcome (sent, skipped as sent before, failed, held, malformed).", "queue", "outcome"),
	}
	if err := errors.Join(
		telemetry.Register(reg, &m.configErrors, &m.requests, &m.retries, &m.retryAfterWaits, &m.retryAfterSeconds, &m.deliveries),
		telemetry.Register(reg, &m.seconds),
	); err != nil {
		return nil, fmt.Errorf("webengage: %w", err)
	}
	return m, nil
}
