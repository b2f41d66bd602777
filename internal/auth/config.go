package auth

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-grpc/event-grpc/internal/envvar"
)

// Modes of authentication.
const (
	ModeOff    = "off"
	ModeAPIKey = "apikey"
	ModeHMAC   = "hmac"
)

// Defaults.
const (
	DefaultMaxSkew      = 5 * time.Minute
	DefaultMaxBodyBytes = 4 << 20
	DefaultReplayCache  = 200_000
	// MinKeyBytes is the shortest key or secret accepted.
	MinKeyBytes = 16
)

// Config configures an Authenticator.
type Config struct {
	// Mode is off, apikey or hmac (AUTH_MODE).
	Mode string
	// Keys maps a client id to its API key (apikey) or HMAC secret (hmac)
	// (AUTH_API_KEYS, AUTH_KEYS_FILE).
	Keys map[string]string
	// MaxSkew is how far a signed request's timestamp may be from the
	// server clock (AUTH_MAX_SKEW; 0 means DefaultMaxSkew).
	MaxSkew time.Duration
	// MaxBodyBytes bounds the HTTP body the middleware reads to verify a
	// signature (hmac only); larger bodies get 413. 0 means
	// DefaultMaxBodyBytes; set it to the server's HTTP_MAX_BODY_BYTES.
	MaxBodyBytes int64
	// ReplayCache bounds the signatures remembered to refuse replays inside
	// the skew window (hmac only). 0 means DefaultReplayCache; negative
	// turns replay detection off (AUTH_REPLAY_CACHE=0). When full, the
	// oldest entry is dropped early and counted.
	ReplayCache int
	// RedisURL (REDIS_URL, redis://[:password@]host:port[/db]) shares the
	// replay cache between instances, so a captured request cannot be
	// replayed once per instance; without it RedisAddrs and RedisPassword
	// (REDIS_CLUSTER_ADDRESSES, REDIS_CLUSTER_PASSWORD: the Redis the
	// dedupe window shares) do. Neither: each instance has its own cache.
	RedisURL      string
	RedisAddrs    []string
	RedisPassword string
	// RedisKeyPrefix prefixes the shared cache's keys (default
	// "eventgrpc:auth:replay:").
	RedisKeyPrefix string
	// ClientLabels: the success metric names the client id
	// (METRICS_CLIENT_LABELS); off, every client counts under "all", so
	// /metrics names no client.
	ClientLabels bool
}

// ConfigFromEnv reads AUTH_MODE, AUTH_API_KEYS, AUTH_KEYS_FILE,
// AUTH_MAX_SKEW and AUTH_REPLAY_CACHE. env is the deployment environment
// (ENV): AUTH_MODE defaults to off only when env is "local"; anywhere else
// it must be set. Every problem is returned, joined, each naming its
// variable; errors never contain key material.
func ConfigFromEnv(lookup func(string) (string, bool), env string) (Config, error) {
	get := func(k string) string {
		v, _ := lookup(k)
		return strings.TrimSpace(v)
	}
	var errs []error
	c := Config{MaxSkew: DefaultMaxSkew, MaxBodyBytes: DefaultMaxBodyBytes, ReplayCache: DefaultReplayCache}

	c.Mode = strings.ToLower(get("AUTH_MODE"))
	if c.Mode == "" {
		if env != "local" {
			errs = append(errs, errors.New("AUTH_MODE must be set outside ENV=local (set AUTH_MODE=off to run without authentication)"))
		}
		c.Mode = ModeOff
	}
	switch c.Mode {
	case ModeOff, ModeAPIKey, ModeHMAC:
	default:
		errs = append(errs, fmt.Errorf("AUTH_MODE: %q is not off, apikey or hmac", c.Mode))
	}
	envvar.PositiveDuration(get, &errs, "AUTH_MAX_SKEW", &c.MaxSkew, "5m")
	if v := get("AUTH_REPLAY_CACHE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("AUTH_REPLAY_CACHE: %q is not a non-negative integer", v))
		} else if n == 0 {
			c.ReplayCache = -1
		} else {
			c.ReplayCache = n
		}
	}

	if v := get("REDIS_URL"); v != "" {
		if _, err := redis.ParseURL(v); err != nil {
			errs = append(errs, errors.New("REDIS_URL: not a redis:// or rediss:// URL"))
		} else {
			c.RedisURL = v
		}
	}
	for a := range strings.SplitSeq(get("REDIS_CLUSTER_ADDRESSES"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.RedisAddrs = append(c.RedisAddrs, a) // checked by the dedupe configuration
		}
	}
	c.RedisPassword, _ = lookup("REDIS_CLUSTER_PASSWORD")

	c.Keys = map[string]string{}
	from := map[string]string{} // client id → the variable that set it
	add := func(src string, entries []entry) {
		for _, e := range entries {
			if prev, dup := from[e.id]; dup {
				errs = append(errs, fmt.Errorf("%s: client %q is already defined by %s", src, e.id, prev))
				continue
			}
			from[e.id] = src
			c.Keys[e.id] = e.key
		}
	}
	if v := get("AUTH_API_KEYS"); v != "" {
		var entries []entry
		for i, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			e, err := parseEntry(part)
			if err != nil {
				errs = append(errs, fmt.Errorf("AUTH_API_KEYS: entry %d: %w", i+1, err))
				continue
			}
			entries = append(entries, e)
		}
		add("AUTH_API_KEYS", entries)
	}
	if path := get("AUTH_KEYS_FILE"); path != "" {
		entries, err := readKeysFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("AUTH_KEYS_FILE: %w", err))
		}
		add("AUTH_KEYS_FILE", entries)
	}
	if (c.Mode == ModeAPIKey || c.Mode == ModeHMAC) && len(c.Keys) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("AUTH_MODE=%s needs keys: set AUTH_API_KEYS=client_id:key,… or AUTH_KEYS_FILE", c.Mode))
	}
	return c, errors.Join(errs...)
}

type entry struct{ id, key string }

// parseEntry reads "client_id:key". Its errors never quote the entry: it
// may be a key.
func parseEntry(s string) (entry, error) {
	id, key, ok := strings.Cut(s, ":")
	id, key = strings.TrimSpace(id), strings.TrimSpace(key)
	switch {
	case !ok:
		return entry{}, errors.New("not client_id:key")
	case id == "":
		return entry{}, errors.New("empty client id")
	case !validClientID(id):
		return entry{}, errors.New("client id must be 1-128 letters, digits, '.', '_' or '-'")
	case len(key) < MinKeyBytes:
		return entry{}, fmt.Errorf("the key of client %q is shorter than %d bytes", id, MinKeyBytes)
	case !printableASCII(key):
		return entry{}, fmt.Errorf("the key of client %q has characters other than printable ASCII (no client could send it in a header)", id)
	}
	return entry{id: id, key: key}, nil
}

// validClientID keeps client ids printable and short: they are metric
// labels and log fields.
func validClientID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// readKeysFile reads one client_id:key per line; blank lines and lines
// starting with # are skipped.
func readKeysFile(path string) ([]entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		out  []entry
		errs []error
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		e, err := parseEntry(line)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s line %d: %w", path, n, err))
			continue
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", path, err))
	}
	return out, errors.Join(errs...)
}

// Validate reports the problems of c.
func (c Config) Validate() error {
	var errs []error
	switch c.Mode {
	case ModeOff:
		return nil
	case ModeAPIKey, ModeHMAC:
	default:
		return fmt.Errorf("AUTH_MODE: %q is not off, apikey or hmac", c.Mode)
	}
	if len(c.Keys) == 0 {
		errs = append(errs, fmt.Errorf("AUTH_MODE=%s needs at least one key", c.Mode))
	}
	for id, key := range c.Keys {
		if !validClientID(id) {
			errs = append(errs, errors.New("auth keys: a client id is not 1-128 letters, digits, '.', '_' or '-'"))
		}
		if len(key) < MinKeyBytes {
			errs = append(errs, fmt.Errorf("auth keys: the key of client %q is shorter than %d bytes", id, MinKeyBytes))
		}
		if !printableASCII(key) {
			errs = append(errs, fmt.Errorf("auth keys: the key of client %q has characters other than printable ASCII", id))
		}
	}
	if c.MaxSkew < 0 {
		errs = append(errs, errors.New("AUTH_MAX_SKEW: must be positive"))
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, errors.New("auth: MaxBodyBytes must not be negative"))
	}
	return errors.Join(errs...)
}

// printableASCII reports whether s is all printable ASCII (0x21–0x7e and
// space), what ParseAuthorization accepts as credentials.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
