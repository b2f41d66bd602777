package bench

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// Defaults of Config and of the CLI flags.
const (
	DefaultTarget      = "127.0.0.1:8017"
	DefaultConcurrency = 16
	DefaultBatch       = 50
	DefaultDuration    = 10 * time.Second
	DefaultCallTimeout = 10 * time.Second
	DefaultDialTimeout = 5 * time.Second
	// MaxConns bounds the client connections the workers share round-robin
	// (each one is its own HTTP/2 connection).
	MaxConns = 4
	// MaxBatch bounds --batch; a larger batch would pass the service's
	// message-size limit long before it measured anything useful.
	MaxBatch = 100_000
)

// Config is one load run. The zero value of each field means its default
// (see withDefaults), except Target, which Run requires.
type Config struct {
	// Target is the gRPC address of the service, e.g. "127.0.0.1:8017"
	// (also "dns:///host:port" or "passthrough:///host:port", as grpc-go
	// spells them, or an http:// or https:// URL).
	Target string
	// Concurrency is the number of workers, each with one call in flight.
	// 0 means DefaultConcurrency.
	Concurrency int
	// Batch is the number of events per dispatch. 0 means DefaultBatch.
	Batch int
	// Duration stops issuing new dispatches after this long; calls in
	// flight then finish (within CallTimeout). 0 means DefaultDuration, or
	// no time limit when Requests is set.
	Duration time.Duration
	// Requests stops after exactly this many dispatches in total; 0 means
	// until Duration.
	Requests int64
	// Rate is the target number of dispatches per second across all
	// workers; 0 means as fast as the workers go.
	Rate float64
	// Poison is the fraction (0..1) of events made invalid on purpose.
	Poison float64
	// ClientID, when set, replaces Header.clientId in every batch.
	ClientID string
	// Metadata is sent as gRPC metadata with every call (e.g. credentials).
	// Keys are lower-cased, as gRPC does; values of keys ending in "-bin"
	// are sent base64-encoded, as gRPC does.
	Metadata map[string]string
	// EmptyIDs leaves every event's id empty so the service mints one. By
	// default each event gets a fresh client-side UUIDv7.
	EmptyIDs bool
	// OutPath, when set, is a file to which the id of every accepted event
	// is appended, one per line.
	OutPath string
	// Conns is the number of client connections; 0 means
	// min(Concurrency, MaxConns).
	Conns int
	// CallTimeout bounds each dispatch call. 0 means DefaultCallTimeout.
	CallTimeout time.Duration
	// DialTimeout bounds the wait for the target to become reachable at
	// start. 0 means DefaultDialTimeout.
	DialTimeout time.Duration
	// Seed makes the synthetic data reproducible; 0 picks a random seed.
	// Event ids are fresh either way.
	Seed uint64
	// Live, when set, shows a live progress line on this writer while
	// the run lasts (the command sets it to stdout when that is a terminal).
	Live io.Writer `json:"-"`
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Batch == 0 {
		c.Batch = DefaultBatch
	}
	if c.Duration == 0 && c.Requests == 0 {
		c.Duration = DefaultDuration
	}
	if c.Conns == 0 {
		c.Conns = min(c.Concurrency, MaxConns)
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	return c
}

// Validate reports every problem of c at once, naming the flag at fault.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if strings.TrimSpace(c.Target) == "" {
		bad("--target is empty")
	} else if _, err := targetURL(c.Target); err != nil {
		bad("%s", strings.TrimPrefix(err.Error(), "bench: "))
	}
	if c.Concurrency < 1 {
		bad("--concurrency must be at least 1, got %d", c.Concurrency)
	}
	if c.Batch < 1 || c.Batch > MaxBatch {
		bad("--batch must be 1..%d, got %d", MaxBatch, c.Batch)
	}
	if c.Duration < 0 {
		bad("--duration must not be negative, got %v", c.Duration)
	}
	if c.Requests < 0 {
		bad("--requests must not be negative, got %d", c.Requests)
	}
	if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
		bad("--rate must be a finite number ≥ 0, got %v", c.Rate)
	}
	if !(c.Poison >= 0 && c.Poison <= 1) { // also refuses NaN
		bad("--poison must be a fraction 0..1, got %v", c.Poison)
	}
	for k := range c.Metadata {
		if err := checkMetadataKey(k); err != nil {
			bad("--metadata %w", err)
		}
	}
	if c.Conns < 1 {
		bad("connections must be at least 1, got %d", c.Conns)
	}
	if c.CallTimeout < 0 {
		bad("--timeout must not be negative, got %v", c.CallTimeout)
	}
	if c.DialTimeout < 0 {
		bad("--dial-timeout must not be negative, got %v", c.DialTimeout)
	}
	if len(errs) > 0 {
		return fmt.Errorf("bench: invalid configuration: %w", errors.Join(errs...))
	}
	return nil
}

// checkMetadataKey accepts what gRPC accepts as a header name: lower-case
// letters, digits, '-', '_' and '.', not reserved for gRPC itself.
func checkMetadataKey(k string) error {
	if k == "" {
		return errors.New("key is empty")
	}
	if strings.HasPrefix(k, "grpc-") || strings.HasPrefix(k, ":") {
		return fmt.Errorf("key %q is reserved for gRPC", k)
	}
	for _, r := range k {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return fmt.Errorf("key %q may hold only a-z, 0-9, '-', '_' and '.'", k)
		}
	}
	return nil
}
