package ratelimit

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/auth"
	"github.com/event-grpc/event-grpc/internal/telemetry"
)

// sweepEvery bounds how often idle buckets are looked for.
const sweepEvery = time.Minute

// labelOther is the client label of keys not listed in PerClient.
const labelOther = "other"

// labelAll is the one client label without METRICS_CLIENT_LABELS.
const labelAll = "all"

// Limiter holds the buckets. Safe for concurrent use; it starts no
// goroutines.
type Limiter struct {
	cfg     Config
	enabled bool
	now     func() time.Time
	m       *metrics

	mu        sync.Mutex
	buckets   map[string]*bucket
	lru       *list.List // of keys; front = most recently used
	lastSweep time.Time
	lastFull  time.Time // the last sweep forced by a full table
}

type bucket struct {
	lim  *rate.Limiter
	l    Limit
	last time.Time     // last request
	el   *list.Element // in Limiter.lru
}

// New builds a Limiter. now is the clock (time.Now when nil); metrics are
// registered on reg when it is not nil.
func New(cfg Config, reg prometheus.Registerer, now func() time.Time) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if now == nil {
		now = time.Now
	}
	named := cfg.PerClient
	if !cfg.ClientLabels {
		named = nil
	}
	m, err := newMetrics(reg, named)
	if err != nil {
		return nil, err
	}
	return &Limiter{cfg: cfg, enabled: cfg.Enabled(), now: now, m: m, buckets: map[string]*bucket{}, lru: list.New(), lastSweep: now()}, nil
}

// Enabled reports whether any limit is set; a disabled limiter lets every
// request through.
func (l *Limiter) Enabled() bool { return l.enabled }

// Decision is the outcome of one request.
type Decision struct {
	OK         bool
	RetryAfter time.Duration // when refused: the wait until a token is there
	Client     string        // the metric label: a configured client or "other"
	Limit      Limit
	TableFull  bool // never set: a full table evicts its least recently used bucket
}

// Key identifies the sender of a request (see the package comment).
type Key struct {
	AuthID   string // auth.ClientID
	HeaderID string // x-client-id as sent, unauthenticated: never a key (see the package comment)
	IP       string // peer address
}

// resolve picks the bucket key, the limit and the metric label.
func (l *Limiter) resolve(k Key) (key string, lim Limit, label string) {
	// An unauthenticated x-client-id is the sender's choice: taking it
	// would let anyone spend a listed client's tokens (or get its larger
	// limit), so only the authenticated id or the peer IP is a key.
	id := k.AuthID
	if id != "" {
		if pl, listed := l.cfg.PerClient[id]; listed {
			return "c:" + id, pl, id
		}
		return "c:" + id, l.cfg.Default, labelOther
	}
	return addrKey(k.IP), l.cfg.Default, labelOther
}

// addrKey is the bucket key of a peer address: "ip4:<addr>" for IPv4 (and
// IPv4-mapped IPv6), "ip6:<the /64 prefix>" for IPv6 — one host commonly
// holds a whole /64 and can rotate through it, so a finer key would let it
// reset its bucket with each new address — and "ip:<as given>" when it is
// not an address. Client buckets are "c:<id>": the namespaces never meet.
func addrKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "ip:" + ip
	}
	a = a.Unmap()
	if a.Is4() {
		return "ip4:" + a.String()
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return "ip:" + ip
	}
	return "ip6:" + p.String()
}

// Take spends one token of k's bucket, or reports how long to wait.
func (l *Limiter) Take(k Key) Decision {
	if !l.enabled {
		return Decision{OK: true}
	}
	key, lim, label := l.resolve(k)
	d := Decision{OK: true, Client: label, Limit: lim}
	if lim.Unlimited() {
		return d
	}
	now := l.now()
	l.mu.Lock()
	if now.Sub(l.lastSweep) >= sweepEvery {
		l.sweep(now, false)
	}
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.cfg.MaxKeys && now.Sub(l.lastFull) >= time.Second {
			l.lastFull = now
			l.sweep(now, true)
		}
		for len(l.buckets) >= l.cfg.MaxKeys {
			// Still full: the least recently used bucket makes room, so a
			// new sender is never refused for others' traffic.
			old := l.lru.Back()
			l.lru.Remove(old)
			delete(l.buckets, old.Value.(string))
			l.m.tableFull.Inc()
		}
		b = &bucket{lim: rate.NewLimiter(rate.Limit(lim.RPS), lim.Burst), l: lim}
		b.el = l.lru.PushFront(key)
		l.buckets[key] = b
		l.m.keys.Set(float64(len(l.buckets)))
	} else {
		l.lru.MoveToFront(b.el)
	}
	b.last = now
	if !b.lim.AllowN(now, 1) {
		missing := 1 - b.lim.TokensAt(now)
		d.OK = false
		d.RetryAfter = max(time.Millisecond, time.Duration(math.Ceil(missing/lim.RPS*float64(time.Second))))
	}
	l.mu.Unlock()
	if !d.OK {
		if !l.cfg.ClientLabels {
			label = labelAll
		}
		l.m.refused.WithLabelValues(label).Inc()
	}
	return d
}

// sweep drops buckets idle for IdleTimeout. A regular sweep drops only
// buckets that have refilled, which a new bucket would equal; a sweep
// forced by a full table drops every idle one. Called with mu held.
func (l *Limiter) sweep(now time.Time, forced bool) {
	l.lastSweep = now
	for k, b := range l.buckets {
		if now.Sub(b.last) < l.cfg.IdleTimeout {
			continue
		}
		if forced || b.lim.TokensAt(now) >= float64(b.l.Burst) {
			l.lru.Remove(b.el)
			delete(l.buckets, k)
		}
	}
	l.m.keys.Set(float64(len(l.buckets)))
}

// Len is the number of buckets held.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

var ingestPrefix = "/" + eventgrpcv1.EventService_ServiceDesc.ServiceName + "/"

// UnaryInterceptor limits calls to the EventService (health and reflection
// are not limited). A refusal is RESOURCE_EXHAUSTED with a retry-after-ms
// trailer. Chain it after the authentication interceptor.
func (l *Limiter) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if !l.enabled || !strings.HasPrefix(info.FullMethod, ingestPrefix) {
			return handler(ctx, req)
		}
		k := Key{AuthID: auth.ClientID(ctx)}
		if md, ok := metadata.FromIncomingContext(ctx); ok {
			if v := md.Get(auth.HeaderClientID); len(v) > 0 {
				k.HeaderID = v[0]
			}
		}
		if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
			k.IP = host(p.Addr.String())
		}
		d := l.Take(k)
		if !d.OK {
			ms := max(1, d.RetryAfter.Milliseconds()+boolInt(d.RetryAfter%time.Millisecond != 0))
			_ = grpc.SetTrailer(ctx, metadata.Pairs("retry-after-ms", strconv.FormatInt(ms, 10)))
			return nil, status.Error(codes.ResourceExhausted, refusal(d))
		}
		return handler(ctx, req)
	}
}

// Middleware limits HTTP requests; a refusal is 429 with Retry-After in
// whole seconds (at least 1) and {"error": "..."}. Wrap it inside the
// authentication middleware. A disabled limiter returns next unchanged.
func (l *Limiter) Middleware(next http.Handler) http.Handler {
	if !l.enabled {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := l.Take(Key{AuthID: auth.ClientID(r.Context()), HeaderID: r.Header.Get(auth.HeaderClientID), IP: host(r.RemoteAddr)})
		if !d.OK {
			secs := max(1, int64(math.Ceil(d.RetryAfter.Seconds())))
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			json.NewEncoder(w).Encode(map[string]string{"error": refusal(d)})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func refusal(d Decision) string {
	if d.TableFull {
		return "too many senders are being rate limited (RATE_LIMIT_MAX_KEYS); retry later"
	}
	return fmt.Sprintf("rate limit of %s exceeded; retry in %v", d.Limit, d.RetryAfter.Round(time.Millisecond))
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// host strips the port of an address.
func host(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

type metrics struct {
	refused   *prometheus.CounterVec
	tableFull prometheus.Counter
	keys      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, clients map[string]Limit) (*metrics, error) {
	m := &metrics{
		refused:   telemetry.NewCounterVec("eventgrpc_ratelimit_refused_total", "Ingest requests refused by the rate limit, by client with METRICS_CLIENT_LABELS=true (RATE_LIMIT_CLIENTS names; \"other\" for the rest), else \"all\".", "client"),
		tableFull: telemetry.NewCounter("eventgrpc_ratelimit_table_full_total", "Buckets evicted (least recently used) to make room for a new sender when RATE_LIMIT_MAX_KEYS buckets were held."),
		keys:      telemetry.NewGauge("eventgrpc_ratelimit_keys", "Rate limit buckets held."),
	}
	if err := errors.Join(
		telemetry.Register(reg, &m.refused),
		telemetry.Register(reg, &m.tableFull),
		telemetry.Register(reg, &m.keys),
	); err != nil {
		return nil, fmt.Errorf("ratelimit: %w", err)
	}
	if clients == nil {
		m.refused.WithLabelValues(labelAll)
	} else {
		m.refused.WithLabelValues(labelOther)
		for id := range clients {
			m.refused.WithLabelValues(id)
		}
	}
	return m, nil
}
