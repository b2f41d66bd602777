package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/getsentry/sentry-go"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/event-grpc/event-grpc/internal/buildinfo"
)

// Reporter sends errors worth a person's attention to an error tracker.
// Every method is safe for concurrent use, never blocks on the network
// (reports are queued and sent in the background, dropped when the queue
// is full) and is rate limited.
type Reporter interface {
	// Panic reports a recovered panic with the stack of the goroutine that
	// panicked; call it from the deferred function that recovered.
	Panic(where string, v any)
	// DeadLetter reports messages of queue that were dead-lettered.
	DeadLetter(queue, tables, reason string)
	// StartFailed reports a failure to start.
	StartFailed(err error)
	// Flush waits up to timeout for queued reports to be sent.
	Flush(timeout time.Duration) bool
}

// Nop is the Reporter used when no DSN is configured.
type Nop struct{}

func (Nop) Panic(string, any)                 {}
func (Nop) DeadLetter(string, string, string) {}
func (Nop) StartFailed(error)                 {}
func (Nop) Flush(time.Duration) bool          { return true }

// SentryConfig configures NewSentry.
type SentryConfig struct {
	DSN         string
	Environment string
	Release     string // default Version()
	// PerKey bounds reports of one kind and key (queue and reason class)
	// per minute (default 5); Total bounds all reports per minute
	// (default 60). Reports over a bound are counted, not sent.
	PerKey, Total int
	Logger        *slog.Logger
	Registerer    prometheus.Registerer
	// Transport overrides sentry-go's HTTP transport (tests).
	Transport sentry.Transport
}

// Sentry is a Reporter over sentry-go. It uses its own client, not the
// package's global hub.
type Sentry struct {
	client *sentry.Client
	lim    *limiter
	sent   *prometheus.CounterVec
	drop   *prometheus.CounterVec
	log    *slog.Logger
}

// NewReporter returns a Sentry reporter for cfg, or Nop when cfg.DSN is
// empty.
func NewReporter(cfg SentryConfig) (Reporter, error) {
	if cfg.DSN == "" {
		return Nop{}, nil
	}
	return NewSentry(cfg)
}

// NewSentry builds the reporter; no I/O happens until the first report.
func NewSentry(cfg SentryConfig) (*Sentry, error) {
	if cfg.Release == "" {
		cfg.Release = "event-grpc@" + Version()
	}
	if cfg.PerKey <= 0 {
		cfg.PerKey = 5
	}
	if cfg.Total <= 0 {
		cfg.Total = 60
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// DisableTelemetryBuffer: the client's default telemetry buffer hands
	// events to its transport from a goroutine of its own, so a Flush that
	// runs while that goroutine holds an event (taken from the buffer, not
	// yet queued on the transport) returns at once and the event can be
	// lost at exit — the panic report Recover flushes before the process
	// dies. The plain transport queues the event inside CaptureEvent, so
	// Flush waits for it. We send only errors; the buffer's priorities buy
	// us nothing.
	c, err := sentry.NewClient(sentry.ClientOptions{
		Dsn: cfg.DSN, Environment: cfg.Environment, Release: cfg.Release,
		Transport: cfg.Transport, AttachStacktrace: false, SampleRate: 1,
		DisableTelemetryBuffer: true,
	})
	if err != nil {
		return nil, fmt.Errorf("SENTRY_DSN: %w", err)
	}
	s := &Sentry{client: c, lim: newLimiter(cfg.PerKey, cfg.Total, time.Minute), log: cfg.Logger,
		sent: NewCounterVec("eventgrpc_sentry_reports_total", "Reports handed to the Sentry client, by kind (panic, dead_letter, start).", "kind"),
		drop: NewCounterVec("eventgrpc_sentry_reports_dropped_total", "Reports not sent because their kind and key, or all reports, were over the per-minute bound.", "kind"),
	}
	if err := Register(cfg.Registerer, &s.sent, &s.drop); err != nil {
		return nil, fmt.Errorf("sentry: %w", err)
	}
	return s, nil
}

func (s *Sentry) allow(kind, key string) bool {
	if s.lim.allow(kind + "\x00" + key) {
		s.sent.WithLabelValues(kind).Inc()
		return true
	}
	s.drop.WithLabelValues(kind).Inc()
	return false
}

// Panic implements Reporter.
func (s *Sentry) Panic(where string, v any) {
	if !s.allow("panic", where) {
		return
	}
	ev := sentry.NewEvent()
	ev.Level = sentry.LevelFatal
	ev.Message = fmt.Sprintf("panic in %s: %v", where, v)
	ev.Tags = map[string]string{"kind": "panic", "where": where}
	ev.Exception = []sentry.Exception{{Type: "panic", Value: fmt.Sprint(v), Stacktrace: sentry.NewStacktrace()}}
	s.client.CaptureEvent(ev, nil, nil)
}

// DeadLetter implements Reporter. The rate-limit key is the queue and the
// reason with its digits and quoted parts removed, so a storm of one
// problem (each message naming its own event id) counts as one key.
func (s *Sentry) DeadLetter(queue, tables, reason string) {
	if !s.allow("dead_letter", queue+"\x00"+reasonClass(reason)) {
		return
	}
	ev := sentry.NewEvent()
	ev.Level = sentry.LevelError
	ev.Message = "dead-lettered in " + queue + ": " + reason
	ev.Tags = map[string]string{"kind": "dead_letter", "queue": queue, "table": tables}
	ev.Contexts = map[string]sentry.Context{"dead_letter": {"queue": queue, "table": tables, "reason": reason}}
	ev.Fingerprint = []string{"dead_letter", queue, reasonClass(reason)}
	s.client.CaptureEvent(ev, nil, nil)
}

// StartFailed implements Reporter.
func (s *Sentry) StartFailed(err error) {
	if !s.allow("start", "") {
		return
	}
	ev := s.client.EventFromException(err, sentry.LevelFatal)
	ev.Message = "start failed: " + err.Error()
	ev.Tags = map[string]string{"kind": "start"}
	s.client.CaptureEvent(ev, nil, nil)
}

// Flush implements Reporter.
func (s *Sentry) Flush(timeout time.Duration) bool { return s.client.Flush(timeout) }

// reasonClass drops digits and quoted strings from a reason.
func reasonClass(r string) string {
	var b strings.Builder
	quoted := false
	for _, c := range r {
		switch {
		case c == '"':
			quoted = !quoted
		case quoted, c >= '0' && c <= '9':
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// limiter allows at most perKey events per key and total events per window.
type limiter struct {
	mu            sync.Mutex
	perKey, total int
	window        time.Duration
	start         time.Time
	n             int
	keys          map[string]int
}

func newLimiter(perKey, total int, window time.Duration) *limiter {
	return &limiter{perKey: perKey, total: total, window: window, keys: map[string]int{}}
}

func (l *limiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now := time.Now(); now.Sub(l.start) >= l.window {
		l.start, l.n = now, 0
		clear(l.keys)
	}
	if l.n >= l.total || l.keys[key] >= l.perKey {
		return false
	}
	l.n++
	l.keys[key]++
	return true
}

// Version is the binary's version: the release or module version, else
// the VCS revision (with "-dirty"), else "devel" (buildinfo.Info.Short).
func Version() string { return buildinfo.Get().Short() }

// Recover is deferred at the top of a background goroutine: it reports a
// panic, flushes, and panics again, so the process still dies of it as it
// would have (a supervisor restarts it) but the report is out first.
func Recover(r Reporter, where string) {
	if v := recover(); v != nil {
		r.Panic(where, v)
		r.Flush(2 * time.Second)
		panic(v)
	}
}

// UnaryRecover is a gRPC interceptor that turns a handler's panic into an
// INTERNAL answer and a report.
func UnaryRecover(r Reporter) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if v := recover(); v != nil {
				r.Panic("grpc "+info.FullMethod, v)
				err = status.Error(codes.Internal, "internal error")
			}
		}()
		return h(ctx, req)
	}
}

// HTTPRecover wraps a handler so that a panic is reported and answered
// 500 (http.ErrAbortHandler, the server's own abort, passes through).
func HTTPRecover(r Reporter, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				r.Panic("http "+req.Method+" "+req.URL.Path, v)
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, req)
	})
}
