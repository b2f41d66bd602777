package jetstream

import (
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
	DefaultMaxBytes       = 1 << 30
	DefaultPublishTimeout = 5 * time.Second
	DefaultAckWait        = 30 * time.Second
	DefaultMaxPending     = 4096
	DefaultDuplicates     = 2 * time.Minute
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

	// Topology is declared on New: one stream, one durable consumer per
	// queue and error queue. Required.
	Topology *topology.Topology
	// Stream names the JetStream stream; its subjects are
	// "<Stream>.q.>". Default EVENTGRPC. Two deployments sharing a NATS
	// server keep apart by using different names.
	Stream string
	// MaxBytes bounds the stream's size; once full, publishes are refused
	// with broker.ErrOverloaded. Default 1 GiB.
	MaxBytes int64
	// Replicas of the stream and its consumers on a clustered external
	// server. Default 1.
	Replicas int
	// PublishTimeout bounds the wait for a publish acknowledgement.
	// Default 5s.
	PublishTimeout time.Duration
	// MaxPending bounds the publishes in flight (sent, not yet
	// acknowledged) of this client; beyond it Publish fails with
	// broker.ErrOverloaded. Default 4096.
	MaxPending int
	// AckWait is how long the server waits for an ack before it delivers a
	// message again. A consumer extends it while its handler runs.
	// Default 30s.
	AckWait time.Duration

	// Logger receives connection events and embedded server warnings.
	// Nil discards.
	Logger *slog.Logger
	// Registerer receives the metrics; nil means no metrics.
	Registerer prometheus.Registerer
}

func (c *Config) applyDefaults() {
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.MaxPending == 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.AckWait == 0 {
		c.AckWait = DefaultAckWait
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
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
	if c.PublishTimeout < 0 || c.AckWait < 0 || c.MaxPending < 0 {
		bad("jetstream: publish timeout, ack wait and max pending must not be negative")
	}
	if c.AckWait != 0 && c.AckWait < time.Second {
		bad("jetstream: ack wait: %v is below 1s", c.AckWait)
	}
	return errors.Join(errs...)
}
