package dedupe

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Values stored under a key.
const (
	valuePending = "p"
	valueDone    = "d"
)

// Redis is the window shared by every instance. Safe for concurrent use.
type Redis struct {
	c               redis.UniversalClient
	prefix          string
	window, pending time.Duration
	timeout         time.Duration
}

// NewRedis connects lazily to cfg.RedisAddrs: one address is a plain
// client, several a cluster client. It does not dial; the first call does.
func NewRedis(cfg Config) (*Redis, error) {
	cfg = cfg.withDefaults()
	if len(cfg.RedisAddrs) == 0 {
		return nil, errors.New("dedupe: REDIS_CLUSTER_ADDRESSES is empty")
	}
	if cfg.Window <= 0 {
		return nil, errors.New("dedupe: the window must be positive")
	}
	t := cfg.RedisTimeout
	var c redis.UniversalClient
	if len(cfg.RedisAddrs) == 1 {
		c = redis.NewClient(&redis.Options{
			Addr: cfg.RedisAddrs[0], Password: cfg.RedisPassword,
			DialTimeout: t, ReadTimeout: t, WriteTimeout: t, PoolTimeout: t,
			MaxRetries: 1, ContextTimeoutEnabled: true, DisableIdentity: true,
			DialerRetries: 1, DialerRetryTimeout: t / 10,
		})
	} else {
		c = redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: cfg.RedisAddrs, Password: cfg.RedisPassword,
			DialTimeout: t, ReadTimeout: t, WriteTimeout: t, PoolTimeout: t,
			MaxRetries: 1, ContextTimeoutEnabled: true, DisableIdentity: true,
			DialerRetries: 1, DialerRetryTimeout: t / 10,
		})
	}
	return &Redis{c: c, prefix: cfg.KeyPrefix, window: cfg.Window, pending: cfg.PendingTTL, timeout: t}, nil
}

// Ping checks the connection.
func (r *Redis) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	return r.c.Ping(ctx).Err()
}

// Claim implements Deduper: one pipelined SET NX per id; for the ids
// already there (rare), a second pipelined GET tells Done from InFlight.
func (r *Redis) Claim(ctx context.Context, ids []string, sums []Sum) ([]State, error) {
	out := make([]State, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*r.timeout)
	defer cancel()
	sets := make([]*redis.BoolCmd, len(ids))
	pipe := r.c.Pipeline()
	for i, id := range ids {
		sets[i] = pipe.SetNX(ctx, r.prefix+id, withSum(valuePending, sumAt(sums, i)), r.pending)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("dedupe: redis claim: %w", err)
	}
	var seen []int
	for i, cmd := range sets {
		if !cmd.Val() {
			seen = append(seen, i)
		}
	}
	if len(seen) == 0 {
		return out, nil
	}
	gets := make([]*redis.StringCmd, len(seen))
	pipe = r.c.Pipeline()
	for j, i := range seen {
		gets[j] = pipe.Get(ctx, r.prefix+ids[i])
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("dedupe: redis claim: %w", err)
	}
	for j, i := range seen {
		// Gone since the SET (expired or forgotten): InFlight makes the
		// client retry, which is never wrong.
		out[i] = InFlight
		if v, err := gets[j].Result(); err == nil && strings.HasPrefix(v, valueDone) {
			out[i] = Done
			if !same(storedSum(v), sumAt(sums, i)) {
				out[i] = Conflict
			}
		}
	}
	return out, nil
}

// Commit implements Deduper: SET <id> d<digest> PX <window> per id.
func (r *Redis) Commit(ctx context.Context, ids []string, sums []Sum) error {
	i := 0
	return r.each(ctx, "commit", ids, func(ctx context.Context, p redis.Pipeliner, key string) {
		p.Set(ctx, key, withSum(valueDone, sumAt(sums, i)), r.window)
		i++
	})
}

// withSum is a stored value: the state letter, then the digest's bytes
// unless it is unknown.
func withSum(state string, s Sum) string {
	if s == (Sum{}) {
		return state
	}
	return state + string(s[:])
}

// storedSum is the digest of a stored value; the zero Sum when it has none
// (a value written without one, or by an older version).
func storedSum(v string) Sum {
	var s Sum
	if len(v) == 1+len(s) {
		copy(s[:], v[1:])
	}
	return s
}

// Forget implements Deduper: DEL per id (one key per command, so a cluster
// never sees a cross-slot DEL).
func (r *Redis) Forget(ctx context.Context, ids []string) error {
	return r.each(ctx, "forget", ids, func(ctx context.Context, p redis.Pipeliner, key string) { p.Del(ctx, key) })
}

func (r *Redis) each(ctx context.Context, op string, ids []string, add func(context.Context, redis.Pipeliner, string)) error {
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*r.timeout)
	defer cancel()
	pipe := r.c.Pipeline()
	for _, id := range ids {
		add(ctx, pipe, r.prefix+id)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("dedupe: redis %s: %w", op, err)
	}
	return nil
}

// Close closes the client's connections; safe to call twice.
func (r *Redis) Close() error {
	if err := r.c.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
		return err
	}
	return nil
}
