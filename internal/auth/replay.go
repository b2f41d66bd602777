package auth

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// replayCache remembers accepted signatures until their timestamp could no
// longer pass the skew check. It holds at most size entries: a ring in
// insertion order (timestamps are close to now, so this is close to expiry
// order) plus a map for lookups. When full, the oldest entry is dropped
// early and counted. Safe for concurrent use.
type replayCache struct {
	mu      sync.Mutex
	seen    map[[16]byte]int64 // key → expiry, unix nanoseconds
	ring    []replayEntry
	head, n int
	evicted prometheus.Counter
}

type replayEntry struct {
	key [16]byte
	exp int64
}

func newReplayCache(size int, evicted prometheus.Counter) *replayCache {
	return &replayCache{seen: map[[16]byte]int64{}, ring: make([]replayEntry, size), evicted: evicted}
}

// add records key until exp and reports true, or reports false when key is
// already recorded and has not expired at now.
func (c *replayCache) add(key [16]byte, exp, now int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.seen[key]; ok && e > now {
		return false
	}
	for c.n > 0 && c.ring[c.head].exp <= now {
		c.pop()
	}
	if c.n == len(c.ring) {
		c.pop()
		c.evicted.Inc()
	}
	c.ring[(c.head+c.n)%len(c.ring)] = replayEntry{key: key, exp: exp}
	c.n++
	c.seen[key] = exp
	return true
}

func (c *replayCache) pop() {
	h := c.ring[c.head]
	if c.seen[h.key] == h.exp {
		delete(c.seen, h.key)
	}
	c.head = (c.head + 1) % len(c.ring)
	c.n--
}

func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// sharedReplay is the replay cache every instance shares, in Redis: one
// key per accepted signature, `SET <prefix><hex> 1 NX PX <ttl>`, the ttl
// being the time until the signature's timestamp fails the skew check. A
// failed NX is a replay, whichever instance saw the signature first. When
// Redis cannot answer within its timeout the local cache's answer stands
// (a replay is then refused only by the instance that saw it), counted in
// eventgrpc_auth_replay_redis_errors_total: authentication does not stop
// with Redis. Safe for concurrent use.
type sharedReplay struct {
	c       redis.UniversalClient
	prefix  string
	timeout time.Duration
	errors  prometheus.Counter
}

// replayKeyPrefix prefixes the shared replay cache's Redis keys.
const replayKeyPrefix = "eventgrpc:auth:replay:"

// replayRedisTimeout bounds one Redis round trip of the shared cache.
const replayRedisTimeout = 250 * time.Millisecond

// newSharedReplay connects lazily to REDIS_URL, else to the
// REDIS_CLUSTER_ADDRESSES (one: a plain client, several: a cluster); nil
// when neither is set.
func newSharedReplay(cfg Config, errs prometheus.Counter) (*sharedReplay, error) {
	t := replayRedisTimeout
	var c redis.UniversalClient
	switch {
	case cfg.RedisURL != "":
		o, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = t, t, t, t
		o.MaxRetries, o.ContextTimeoutEnabled, o.DisableIdentity = 1, true, true
		c = redis.NewClient(o)
	case len(cfg.RedisAddrs) == 1:
		c = redis.NewClient(&redis.Options{Addr: cfg.RedisAddrs[0], Password: cfg.RedisPassword,
			DialTimeout: t, ReadTimeout: t, WriteTimeout: t, PoolTimeout: t,
			MaxRetries: 1, ContextTimeoutEnabled: true, DisableIdentity: true})
	case len(cfg.RedisAddrs) > 1:
		c = redis.NewClusterClient(&redis.ClusterOptions{Addrs: cfg.RedisAddrs, Password: cfg.RedisPassword,
			DialTimeout: t, ReadTimeout: t, WriteTimeout: t, PoolTimeout: t,
			MaxRetries: 1, ContextTimeoutEnabled: true, DisableIdentity: true})
	default:
		return nil, nil
	}
	prefix := cfg.RedisKeyPrefix
	if prefix == "" {
		prefix = replayKeyPrefix
	}
	return &sharedReplay{c: c, prefix: prefix, timeout: t, errors: errs}, nil
}

// add records key for ttl and reports true, or false when some instance
// recorded it already; err when Redis did not answer.
func (s *sharedReplay) add(key [16]byte, ttl time.Duration) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	ok, err := s.c.SetNX(ctx, s.prefix+hex.EncodeToString(key[:]), "1", max(ttl, time.Millisecond)).Result()
	if err != nil {
		s.errors.Inc()
		return true, err
	}
	return ok, nil
}

func (s *sharedReplay) close() error {
	if err := s.c.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
		return err
	}
	return nil
}
