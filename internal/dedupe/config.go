package dedupe

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Defaults.
const (
	DefaultWindow           = 10 * time.Minute
	DefaultPendingTTL       = 30 * time.Second
	DefaultLocalMaxItems    = 250_000
	DefaultRedisTimeout     = 250 * time.Millisecond
	DefaultKeyPrefix        = "eventgrpc:dedupe:"
	DefaultErrorLogInterval = time.Minute
)

// Config configures Open.
type Config struct {
	// Window is how long a published id is remembered (DEDUPE_WINDOW,
	// default 10m); 0 disables deduplication.
	Window time.Duration
	// PendingTTL is how long a claim lasts without Commit or Forget
	// (DEDUPE_PENDING_TTL, default 30s, at most Window). Make it longer
	// than a publish can take.
	PendingTTL time.Duration
	// LocalMaxItems bounds the ids held in the process
	// (DEDUPE_LOCAL_MAX_ITEMS, default 250000: about 50 MB; the window beyond it is Redis and storage dedupe).
	LocalMaxItems int64
	// RedisAddrs are host:port addresses (REDIS_CLUSTER_ADDRESSES,
	// comma-separated): none = local only, one = a plain client, several =
	// a cluster client.
	RedisAddrs []string
	// RedisPassword is REDIS_CLUSTER_PASSWORD.
	RedisPassword string
	// RedisTimeout bounds one Redis round trip (DEDUPE_REDIS_TIMEOUT,
	// default 250ms).
	RedisTimeout time.Duration
	// KeyPrefix prefixes the Redis keys (default "eventgrpc:dedupe:").
	KeyPrefix string
	// ErrorLogInterval is the least time between two logged Redis errors
	// (default 1m); every error is counted.
	ErrorLogInterval time.Duration
}

// Enabled reports whether deduplication is on.
func (c Config) Enabled() bool { return c.Window > 0 }

// ConfigFromEnv reads DEDUPE_WINDOW, DEDUPE_PENDING_TTL,
// DEDUPE_LOCAL_MAX_ITEMS, DEDUPE_REDIS_TIMEOUT, REDIS_CLUSTER_ADDRESSES and
// REDIS_CLUSTER_PASSWORD. Every problem is returned, joined, naming its
// variable; the password never appears in errors.
func ConfigFromEnv(lookup func(string) (string, bool)) (Config, error) {
	get := func(k string) string {
		v, _ := lookup(k)
		return strings.TrimSpace(v)
	}
	var errs []error
	c := Config{}
	dur := func(key string, def time.Duration, zeroOK bool) time.Duration {
		v := get(key)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if v == "0" {
			d, err = 0, nil
		}
		if err != nil || d < 0 || (d == 0 && !zeroOK) {
			errs = append(errs, fmt.Errorf("%s: %q is not a positive duration (e.g. 10m)", key, v))
			return def
		}
		return d
	}
	c.Window = dur("DEDUPE_WINDOW", DefaultWindow, true)
	c.PendingTTL = dur("DEDUPE_PENDING_TTL", DefaultPendingTTL, false)
	c.RedisTimeout = dur("DEDUPE_REDIS_TIMEOUT", DefaultRedisTimeout, false)
	c.LocalMaxItems = DefaultLocalMaxItems
	if v := get("DEDUPE_LOCAL_MAX_ITEMS"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 1 || f > 1e9 || f != float64(int64(f)) {
			errs = append(errs, fmt.Errorf("DEDUPE_LOCAL_MAX_ITEMS: %q is not a whole number from 1 to 1e9", v))
		} else {
			c.LocalMaxItems = int64(f)
		}
	}
	for a := range strings.SplitSeq(get("REDIS_CLUSTER_ADDRESSES"), ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("REDIS_CLUSTER_ADDRESSES: %q is not host:port", a))
			continue
		}
		c.RedisAddrs = append(c.RedisAddrs, a)
	}
	c.RedisPassword, _ = lookup("REDIS_CLUSTER_PASSWORD")
	c.KeyPrefix = DefaultKeyPrefix
	c.ErrorLogInterval = DefaultErrorLogInterval
	if c.PendingTTL > c.Window && c.Window > 0 {
		c.PendingTTL = c.Window
	}
	return c, errors.Join(errs...)
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.PendingTTL <= 0 {
		c.PendingTTL = DefaultPendingTTL
	}
	if c.PendingTTL > c.Window {
		c.PendingTTL = c.Window
	}
	if c.LocalMaxItems <= 0 {
		c.LocalMaxItems = DefaultLocalMaxItems
	}
	if c.RedisTimeout <= 0 {
		c.RedisTimeout = DefaultRedisTimeout
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = DefaultKeyPrefix
	}
	if c.ErrorLogInterval <= 0 {
		c.ErrorLogInterval = DefaultErrorLogInterval
	}
	return c
}
