package jetstream

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-grpc/event-grpc/internal/topology"
)

// Defaults for Config fields left zero.
const (
	DefaultStream         = "EVENTGRPC"
	DefaultMaxBytes       = topology.DefaultQueueMaxBytes
	DefaultPublishTimeout = 5 * time.Second
	// DefaultPublishRetryFor outlasts a replicated stream's leader
	// election (measured 4.8–8.3 s on NATS 2.9).
	DefaultPublishRetryFor = 12 * time.Second
	DefaultAckWait         = 30 * time.Second
	DefaultMaxPending      = 4096
	DefaultDuplicates      = 2 * time.Minute
)

// Config configures a Broker.
type Config struct {
	// URL of an external NATS server or cluster (nats://host:4222, comma
	// separated for several). Empty runs an embedded server in the process.
	URL string
	// DataDir is the embedded server's store directory, e.g.
	// ./data/jetstream. Required when URL is empty.
	DataDir string
	// ListenPort, for the embedded server, opens a client listener on
	// 127.0.0.1:ListenPort so operators can attach the nats CLI. Zero
	// means no listener (in-process connections only); -1 a random port.
	ListenPort int

	// Topology is declared on New: one stream and one durable consumer
	// per queue and per error queue. Required.
	Topology *topology.Topology
	// Stream is the prefix of every name: queue q's stream is
	// "<Stream>_<q>" and its subject "<Stream>.q.<q>". Default EVENTGRPC.
	// Two deployments sharing a NATS server keep apart by using
	// different names.
	Stream string
	// MaxBytes bounds each queue's stream whose topology entry sets no
	// max_bytes; once full, publishes to that queue alone are refused
	// with broker.ErrOverloaded. Default topology.DefaultQueueMaxBytes.
	MaxBytes int64
	// Replicas of the stream and its consumers on a clustered external
	// server. Default 1.
	Replicas int
	// TLS configures tls:// connections to an external server (its CA,
	// server name, client certificate). Nil: the system's roots.
	TLS *tls.Config
	// PublishTimeout bounds the wait for a publish acknowledgement.
	// Default 5s.
	PublishTimeout time.Duration
	// PublishRetryFor is how long Publish keeps sending again the
	// messages the server did not acknowledge for want of a stream
	// leader (a timeout, no responders, a lost connection): on a cluster,
	// electing the leader of a replicated stream after its node died
	// takes 5–9 s. Retries are de-duplicated by the server (Nats-Msg-Id).
	// Past it the caller gets broker.ErrUnavailable. Default: 12s when
	// Replicas > 1, else 0 (one try).
	PublishRetryFor time.Duration
	// MaxPending bounds the publishes in flight (sent, not yet
	// acknowledged) of this client; beyond it Publish fails with
	// broker.ErrOverloaded. Default 4096.
	MaxPending int
	// AckWait is how long the server waits for an ack before it delivers a
	// message again. A consumer extends it while its handler runs.
	// Default 30s.
	AckWait time.Duration

	// SyncInterval is how the embedded server makes what it stores
	// durable. Zero (the default, JETSTREAM_SYNC=always) fsyncs every
	// write before the publish is acknowledged: an acknowledged event
	// survives a power cut. A positive interval (JETSTREAM_SYNC=2m, the
	// nats-server default) acknowledges once the write is in the page
	// cache and fsyncs in the background every interval: a crash of the
	// process loses nothing, a power cut or kernel crash may lose up to one
	// interval of acknowledged events. An external server syncs as its own
	// configuration says (sync_interval); this setting is then refused.
	SyncInterval time.Duration

	// StreamBufferedBytes bounds, per stream of the embedded server, the
	// published bytes received but not yet stored; past it the server
	// refuses the publish (broker.ErrOverloaded). Zero: the server's
	// default (128 MiB). Only for the embedded server.
	StreamBufferedBytes int64

	// Logger receives connection events and embedded server warnings.
	// Nil discards.
	Logger *slog.Logger
	// Registerer receives the metrics; nil means no metrics.
	Registerer prometheus.Registerer
}

// syncOptions are the embedded server's sync settings for SyncInterval.
func (c *Config) syncOptions() (always bool, interval time.Duration) {
	if c.SyncInterval == 0 {
		// As nats-server's "sync_interval: always": fsync each write, and
		// the background sync on its default period.
		return true, 2 * time.Minute
	}
	return false, c.SyncInterval
}

// ParseSync reads JETSTREAM_SYNC: "always" (or empty) is 0, fsync before
// every acknowledgement; a Go duration such as "2m" is the interval mode.
func ParseSync(s string) (time.Duration, error) {
	if s == "" || s == "always" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("JETSTREAM_SYNC: %q is neither \"always\" nor a positive duration such as 2m", s)
	}
	return d, nil
}

func (c Config) withDefaults() Config {
	c.Stream = cmp.Or(c.Stream, DefaultStream)
	c.MaxBytes = cmp.Or(c.MaxBytes, DefaultMaxBytes)
	c.Replicas = cmp.Or(c.Replicas, 1)
	c.PublishTimeout = cmp.Or(c.PublishTimeout, DefaultPublishTimeout)
	if c.PublishRetryFor == 0 && c.Replicas > 1 {
		c.PublishRetryFor = DefaultPublishRetryFor
	}
	c.MaxPending = cmp.Or(c.MaxPending, DefaultMaxPending)
	c.AckWait = cmp.Or(c.AckWait, DefaultAckWait)
	c.Logger = cmp.Or(c.Logger, slog.New(slog.DiscardHandler))
	return c
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.URL == "" && c.DataDir == "" {
		bad("jetstream: data dir: required for the embedded server (or set a NATS URL)")
	}
	if c.URL != "" && c.ListenPort != 0 {
		bad("jetstream: listen port: only for the embedded server")
	}
	if c.ListenPort < -1 || c.ListenPort > 65535 {
		bad("jetstream: listen port: %d is outside -1..65535", c.ListenPort)
	}
	if c.Topology == nil {
		bad("jetstream: topology: required")
	}
	if c.Stream != "" && token(c.Stream) != c.Stream {
		bad("jetstream: stream: %q may hold only letters, digits, '-' and '_'", c.Stream)
	}
	if c.MaxBytes < 0 {
		bad("jetstream: max bytes: negative")
	}
	if c.Replicas < 0 || c.Replicas > 5 {
		bad("jetstream: replicas: %d is outside 1..5", c.Replicas)
	}
	if c.PublishTimeout < 0 || c.PublishRetryFor < 0 || c.AckWait < 0 || c.MaxPending < 0 {
		bad("jetstream: publish timeout, ack wait and max pending must not be negative")
	}
	if c.StreamBufferedBytes < 0 {
		bad("jetstream: stream buffered bytes: negative")
	}
	if c.URL != "" && c.StreamBufferedBytes != 0 {
		bad("jetstream: stream buffered bytes: only for the embedded server")
	}
	if c.SyncInterval < 0 {
		bad("jetstream: sync interval: negative")
	}
	if c.URL != "" && c.SyncInterval != 0 {
		bad("jetstream: sync interval: only for the embedded server (an external server syncs per its sync_interval)")
	}
	if c.AckWait != 0 && c.AckWait < time.Second {
		bad("jetstream: ack wait: %v is below 1s", c.AckWait)
	}
	return errors.Join(errs...)
}
