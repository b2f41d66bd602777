package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/event-grpc/event-grpc/internal/envvar"
)

// Defaults.
const (
	DefaultMaxKeys     = 100_000
	DefaultIdleTimeout = 10 * time.Minute
)

// Limit is a token bucket: RPS tokens a second, at most Burst saved up.
// RPS 0 means unlimited.
type Limit struct {
	RPS   float64
	Burst int
}

// Unlimited reports whether l limits nothing.
func (l Limit) Unlimited() bool { return l.RPS <= 0 }

func (l Limit) String() string {
	if l.Unlimited() {
		return "unlimited"
	}
	return fmt.Sprintf("%g requests/s, burst %d", l.RPS, l.Burst)
}

// Config configures a Limiter.
type Config struct {
	// Default applies to every key without its own entry
	// (RATE_LIMIT_RPS, RATE_LIMIT_BURST).
	Default Limit
	// PerClient overrides the default by client id
	// (RATE_LIMIT_CLIENTS=client:rps:burst,…).
	PerClient map[string]Limit
	// MaxKeys bounds the buckets held (RATE_LIMIT_MAX_KEYS; 0 means
	// DefaultMaxKeys).
	MaxKeys int
	// IdleTimeout is how long an unused bucket is kept (RATE_LIMIT_IDLE;
	// 0 means DefaultIdleTimeout).
	IdleTimeout time.Duration
	// ClientLabels: the refusal metric names the client (METRICS_CLIENT_LABELS);
	// off, every client counts under "all", so /metrics names no client.
	ClientLabels bool
}

// Enabled reports whether any limit is set.
func (c Config) Enabled() bool {
	if !c.Default.Unlimited() {
		return true
	}
	for _, l := range c.PerClient {
		if !l.Unlimited() {
			return true
		}
	}
	return false
}

// defaultBurst is one second's worth, at least 1.
func defaultBurst(rps float64) int { return max(1, int(math.Ceil(rps))) }

// ConfigFromEnv reads RATE_LIMIT_RPS, RATE_LIMIT_BURST,
// RATE_LIMIT_CLIENTS, RATE_LIMIT_MAX_KEYS and RATE_LIMIT_IDLE. Unset, they
// limit nothing. A burst left out is one second's worth of the rate.
// Every problem is returned, joined, naming its variable.
func ConfigFromEnv(lookup func(string) (string, bool)) (Config, error) {
	get := func(k string) string {
		v, _ := lookup(k)
		return strings.TrimSpace(v)
	}
	var errs []error
	c := Config{MaxKeys: DefaultMaxKeys, IdleTimeout: DefaultIdleTimeout, PerClient: map[string]Limit{}}

	if v := get("RATE_LIMIT_RPS"); v != "" {
		rps, err := parseRPS(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("RATE_LIMIT_RPS: %w", err))
		}
		c.Default.RPS = rps
	}
	c.Default.Burst = defaultBurst(c.Default.RPS)
	if v := get("RATE_LIMIT_BURST"); v != "" {
		b, err := strconv.Atoi(v)
		switch {
		case err != nil || b < 0:
			errs = append(errs, fmt.Errorf("RATE_LIMIT_BURST: %q is not a non-negative integer", v))
		case b == 0 && c.Default.RPS > 0:
			errs = append(errs, errors.New("RATE_LIMIT_BURST: must be at least 1 when RATE_LIMIT_RPS is set"))
		default:
			c.Default.Burst = b
		}
	}
	if v := get("RATE_LIMIT_CLIENTS"); v != "" {
		for i, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			id, l, err := parseClient(part)
			if err != nil {
				errs = append(errs, fmt.Errorf("RATE_LIMIT_CLIENTS: entry %d (%q): %w", i+1, part, err))
				continue
			}
			if _, dup := c.PerClient[id]; dup {
				errs = append(errs, fmt.Errorf("RATE_LIMIT_CLIENTS: client %q is listed twice", id))
				continue
			}
			c.PerClient[id] = l
		}
	}
	envvar.PositiveInt(get, &errs, "RATE_LIMIT_MAX_KEYS", &c.MaxKeys)
	envvar.PositiveDuration(get, &errs, "RATE_LIMIT_IDLE", &c.IdleTimeout, "10m")
	return c, errors.Join(errs...)
}

func parseRPS(s string) (float64, error) {
	rps, err := strconv.ParseFloat(s, 64)
	if err != nil || rps < 0 || math.IsInf(rps, 0) || math.IsNaN(rps) {
		return 0, fmt.Errorf("%q is not a non-negative number of requests per second", s)
	}
	return rps, nil
}

// parseClient reads client:rps[:burst].
func parseClient(s string) (string, Limit, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return "", Limit{}, errors.New("want client:rps:burst")
	}
	id := strings.TrimSpace(parts[0])
	if id == "" {
		return "", Limit{}, errors.New("empty client id")
	}
	rps, err := parseRPS(strings.TrimSpace(parts[1]))
	if err != nil {
		return "", Limit{}, fmt.Errorf("rps: %w", err)
	}
	l := Limit{RPS: rps, Burst: defaultBurst(rps)}
	if len(parts) == 3 {
		b, err := strconv.Atoi(strings.TrimSpace(parts[2]))
		if err != nil || b < 0 || (b == 0 && rps > 0) {
			return "", Limit{}, fmt.Errorf("burst %q must be a positive integer", parts[2])
		}
		l.Burst = b
	}
	return id, l, nil
}

// Validate reports the problems of c.
func (c Config) Validate() error {
	var errs []error
	check := func(name string, l Limit) {
		if l.RPS < 0 || math.IsNaN(l.RPS) || math.IsInf(l.RPS, 0) {
			errs = append(errs, fmt.Errorf("%s: rate %v must be a non-negative number", name, l.RPS))
		}
		if l.RPS > 0 && l.Burst < 1 {
			errs = append(errs, fmt.Errorf("%s: burst must be at least 1 when the rate is set", name))
		}
	}
	check("RATE_LIMIT_RPS/RATE_LIMIT_BURST", c.Default)
	for id, l := range c.PerClient {
		check(fmt.Sprintf("RATE_LIMIT_CLIENTS %q", id), l)
	}
	if c.MaxKeys < 0 || c.IdleTimeout < 0 {
		errs = append(errs, errors.New("RATE_LIMIT_MAX_KEYS and RATE_LIMIT_IDLE must not be negative"))
	}
	return errors.Join(errs...)
}
