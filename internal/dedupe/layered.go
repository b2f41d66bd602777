package dedupe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-grpc/event-grpc/internal/telemetry"
)

// Backoff of the Redis layer after a failure.
const (
	minBackoff = time.Second
	maxBackoff = 30 * time.Second
)

// Layered answers from Local first and asks Redis about the ids Local
// does not know. Redis failures never fail a call: they are counted, logged
// at most once per interval, and Redis is skipped for a backoff while Local
// answers alone. Safe for concurrent use.
type Layered struct {
	local *Local
	redis *Redis // nil: local only
	log   *slog.Logger
	m     *metrics
	now   func() time.Time

	window time.Duration
	logs   *telemetry.Every // Redis failures logged

	mu        sync.Mutex
	skipUntil time.Time
	backoff   time.Duration
	closeOnce sync.Once
	startOnce sync.Once
}

// Open builds the Deduper cfg asks for: a nil Store (and no error) when the
// window is 0; Local alone without Redis addresses; otherwise Local in front of
// Redis. It does no I/O: Start pings Redis. Metrics are registered on reg
// when it is not nil.
func Open(cfg Config, log *slog.Logger, reg prometheus.Registerer) (Store, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	if log == nil {
		log = slog.Default()
	}
	cfg = cfg.withDefaults()
	local, err := NewLocal(cfg.LocalMaxItems, cfg.Window, cfg.PendingTTL)
	if err != nil {
		return nil, err
	}
	var r *Redis
	if len(cfg.RedisAddrs) > 0 {
		if r, err = NewRedis(cfg); err != nil {
			local.Close()
			return nil, err
		}
	}
	l, err := NewLayered(local, r, cfg, log, reg, time.Now)
	if err != nil {
		local.Close()
		if r != nil {
			r.Close()
		}
		return nil, err
	}
	log.Info("event id dedupe on", "window", cfg.Window, "pending_ttl", cfg.PendingTTL,
		"local_max_items", cfg.LocalMaxItems, "redis_addresses", len(cfg.RedisAddrs))
	return l, nil
}

// NewLayered puts local in front of r (nil: local only). It takes
// ownership of both: Close closes them. now is the clock of the backoff and
// the log interval.
func NewLayered(local *Local, r *Redis, cfg Config, log *slog.Logger, reg prometheus.Registerer, now func() time.Time) (*Layered, error) {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Layered{local: local, redis: r, log: log, m: m, now: now, window: cfg.Window, logs: telemetry.NewEvery(cfg.ErrorLogInterval)}, nil
}

// Claim implements Deduper. It never fails: when Redis cannot answer
// (down, backing off, or ctx done first) Local's answer stands.
func (l *Layered) Claim(ctx context.Context, ids []string, sums []Sum) ([]State, error) {
	l.m.checked.Add(float64(len(ids)))
	out, _ := l.local.Claim(ctx, ids, sums)
	if l.redis != nil && l.useRedis() {
		var idx []int
		var ask []string
		var askSums []Sum
		for i, s := range out {
			if s == New {
				idx = append(idx, i)
				ask = append(ask, ids[i])
				askSums = append(askSums, sumAt(sums, i))
			}
		}
		if len(ask) > 0 {
			rs, err := l.redis.Claim(ctx, ask, askSums)
			switch {
			case err != nil && ctx.Err() != nil:
				// The caller gave up; not Redis's fault. Local's claims stand.
			case err != nil:
				l.redisFailed("claim", err)
			default:
				l.redisOK()
				var done, busy []string
				var doneSums []Sum
				for j, i := range idx {
					out[i] = rs[j]
					switch rs[j] {
					case Done:
						done = append(done, ids[i])
						doneSums = append(doneSums, sumAt(sums, i))
					case InFlight, Conflict:
						busy = append(busy, ids[i])
					}
				}
				// Remember what another instance published; leave what it
				// is still publishing, and what conflicts (whose digest
				// only Redis knows), to Redis.
				if len(done) > 0 {
					l.local.Commit(ctx, done, doneSums)
				}
				if len(busy) > 0 {
					l.local.Forget(ctx, busy)
				}
			}
		}
	}
	for _, s := range out {
		switch s {
		case Done:
			l.m.hitsDone.Inc()
		case InFlight:
			l.m.hitsInFlight.Inc()
		case Conflict:
			l.m.hitsConflict.Inc()
		}
	}
	return out, nil
}

// Commit implements Deduper. It runs even when ctx is cancelled (the
// publish happened); Redis failures are counted and logged, not returned.
func (l *Layered) Commit(ctx context.Context, ids []string, sums []Sum) error {
	local := func(ctx context.Context, ids []string) error { return l.local.Commit(ctx, ids, sums) }
	return l.release(ctx, "commit", ids, local, func(ctx context.Context) error { return l.redis.Commit(ctx, ids, sums) })
}

// Forget implements Deduper, like Commit. When Redis cannot be told, its
// claim expires after the pending TTL; until then other instances answer
// InFlight for these ids, which makes their clients retry.
func (l *Layered) Forget(ctx context.Context, ids []string) error {
	return l.release(ctx, "forget", ids, l.local.Forget, func(ctx context.Context) error { return l.redis.Forget(ctx, ids) })
}

func (l *Layered) release(ctx context.Context, op string, ids []string,
	local func(context.Context, []string) error, remote func(context.Context) error) error {
	if len(ids) == 0 {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	if err := local(ctx, ids); err != nil {
		return err
	}
	if l.redis == nil || !l.useRedis() {
		return nil
	}
	if err := remote(ctx); err != nil {
		l.redisFailed(op, err)
		return nil
	}
	l.redisOK()
	return nil
}

// useRedis reports whether the backoff after a failure is over.
func (l *Layered) useRedis() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.now().Before(l.skipUntil) {
		l.m.redisSkipped.Inc()
		return false
	}
	return true
}

func (l *Layered) redisOK() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.backoff != 0 {
		l.log.Info("dedupe: redis answers again; the window is shared")
	}
	l.backoff = 0
	l.m.up.Set(1)
}

// redisFailed counts err, starts or doubles the backoff and logs at most
// once per interval.
func (l *Layered) redisFailed(op string, err error) {
	l.m.redisErrors.WithLabelValues(op).Inc()
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.backoff = min(max(2*l.backoff, minBackoff), maxBackoff)
	l.skipUntil = now.Add(l.backoff)
	l.m.up.Set(0)
	if held, ok := l.logs.Allow(now); ok {
		l.log.Warn("dedupe: redis failed; answering from the local window until it is back",
			"op", op, "err", err, "retry_in", l.backoff, "errors_not_logged", held)
	}
}

// Start pings Redis once (within its timeout) and only logs when that
// fails: serving goes on with the local window, and Redis is used again
// when it answers. A store without Redis has nothing to start. Later
// calls do nothing.
func (l *Layered) Start(ctx context.Context) error {
	l.startOnce.Do(func() {
		if l.redis == nil {
			return
		}
		if err := l.redis.Ping(ctx); err != nil {
			l.redisFailed("ping", err)
		} else {
			l.m.up.Set(1)
		}
	})
	return nil
}

// Shutdown is Close, for component.Component: it returns at once.
func (l *Layered) Shutdown(context.Context) error { return l.Close() }

// Close closes Local and Redis; safe to call twice.
func (l *Layered) Close() error {
	var err error
	l.closeOnce.Do(func() {
		errs := []error{l.local.Close()}
		if l.redis != nil {
			errs = append(errs, l.redis.Close())
		}
		err = errors.Join(errs...)
	})
	return err
}

type metrics struct {
	checked      prometheus.Counter
	hitsDone     prometheus.Counter
	hitsInFlight prometheus.Counter
	hitsConflict prometheus.Counter
	redisErrors  *prometheus.CounterVec
	redisSkipped prometheus.Counter
	up           prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	hits := telemetry.NewCounterVec("eventgrpc_dedupe_hits_total", "Event ids found within the dedupe window: state done (acknowledged without publishing), in_flight (rejected for a retry) or conflict (used before for a different event: rejected).", "state")
	m := &metrics{
		checked:      telemetry.NewCounter("eventgrpc_dedupe_checked_total", "Event ids checked against the dedupe window."),
		redisErrors:  telemetry.NewCounterVec("eventgrpc_dedupe_redis_errors_total", "Failed Redis calls of the dedupe window, by operation; the local window answered.", "op"),
		redisSkipped: telemetry.NewCounter("eventgrpc_dedupe_redis_skipped_total", "Dedupe calls that left Redis alone during the backoff after a failure."),
		up:           telemetry.NewGauge("eventgrpc_dedupe_redis_up", "1 when the last Redis call of the dedupe window succeeded."),
	}
	if err := errors.Join(
		telemetry.Register(reg, &m.checked, &m.redisSkipped),
		telemetry.Register(reg, &hits, &m.redisErrors),
		telemetry.Register(reg, &m.up),
	); err != nil {
		return nil, fmt.Errorf("dedupe: %w", err)
	}
	m.hitsDone = hits.WithLabelValues(Done.String())
	m.hitsInFlight = hits.WithLabelValues(InFlight.String())
	m.hitsConflict = hits.WithLabelValues(Conflict.String())
	for _, op := range []string{"ping", "claim", "commit", "forget"} {
		m.redisErrors.WithLabelValues(op)
	}
	return m, nil
}
