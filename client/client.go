package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
)

// Errors of Track.
var (
	ErrQueueFull = errors.New("event-grpc client: queue is full (MaxQueueEvents / MaxQueueBytes); event dropped")
	ErrClosed    = errors.New("event-grpc client: closed; event dropped")
	ErrTooLarge  = errors.New("event-grpc client: event is larger than MaxBatchBytes; event dropped")
)

// Compressions.
const (
	CompressionGzip = "gzip"
	CompressionNone = "none"
)

// Protocols.
const (
	ProtocolConnect = "connect"
	ProtocolGRPC    = "grpc"
)

// Config configures a Client. Zero values take the defaults noted.
type Config struct {
	// URL of the service: its HTTP port for Connect
	// (http://host:8019), its gRPC port for gRPC (http://host:8017).
	URL string
	// Protocol is ProtocolConnect (default) or ProtocolGRPC.
	Protocol string
	// HTTPClient sends the requests; default: one made for Protocol.
	HTTPClient *http.Client
	// RequestHeader is added to the HTTP headers of every request (with
	// ProtocolGRPC: gRPC metadata; keys ending in "-bin" take values
	// encoded with connect.EncodeBinaryHeader), e.g. for a proxy in front
	// of the service. The headers of ClientID and APIKey take precedence.
	RequestHeader http.Header
	// Header is sent with every batch (session, user, device, app).
	Header *eventgrpcv1.Header

	// ClientID with APIKey (AUTH_MODE=apikey) or HMACSecret
	// (AUTH_MODE=hmac) authenticates the requests; empty: none.
	ClientID   string
	APIKey     string
	HMACSecret []byte

	MaxBatchEvents int           // events per request; default 500
	MaxBatchBytes  int           // encoded event bytes per request; default 1 MiB
	FlushInterval  time.Duration // longest an event waits to be sent; default 1 s
	MaxQueueEvents int           // events held; default 100,000
	MaxQueueBytes  int64         // encoded event bytes held; default 64 MiB

	RequestTimeout time.Duration // one attempt; default 10 s
	MinBackoff     time.Duration // first retry wait; default 100 ms
	MaxBackoff     time.Duration // longest retry wait; default 30 s

	// Compression of request bodies: CompressionGzip (the default with
	// ProtocolConnect: Content-Encoding gzip, which the HTTP port decodes;
	// with ProtocolGRPC on request: grpc-encoding gzip, which the gRPC port
	// decodes from this version on, so it is not the default there) or
	// CompressionNone (the default with ProtocolGRPC). Bodies smaller than
	// CompressMinBytes (default 1 KiB; 1: always) are sent as they are.
	Compression      string
	CompressMinBytes int

	// StateDir, when set, is a directory the client keeps its state in:
	// the queued events (a bounded journal of append-only files, reloaded
	// by New and removed as events are settled, so events tracked while
	// the service was unreachable survive a restart of the program), the
	// anonymous id, the last identified user id and the opt-out switch.
	// One Client at a time per directory. Empty: memory only.
	StateDir string
	// AnonymousID is the anonymous id of the generic calls when none is
	// kept in StateDir; empty: a random UUID, minted once and kept.
	AnonymousID string
	// OptedOut starts the client opted out (SetOptOut) when StateDir
	// keeps no choice of the user.
	OptedOut bool

	// Logger, when set, is told of what the client does: each request
	// sent and its outcome (debug), retries (info), rejections, drops and
	// state files it could not write (warn, error). nil: silent (the
	// callbacks and Stats still report everything).
	Logger *slog.Logger

	// OnRejected is told of events the service refused for good, with the
	// reason. Called from the sending goroutine; keep it short.
	OnRejected func([]Rejection)
	// OnDropped is told of events the client gave up on before sending
	// (queue full, closed) or after (Close's deadline), with the reason.
	// Called from Track's or Close's goroutine; keep it short.
	OnDropped func(n int, reason error)
	// Now is the clock for minted timestamps; default time.Now.
	Now func() time.Time
}

// Rejection is an event the service refused for good.
type Rejection struct {
	EventID string
	// Code is the service's machine-readable fate of the event
	// (INVALID, TOO_LARGE, CONFLICT, INTERNAL; UNSPECIFIED from a service
	// older than the field, or when the whole request was refused for a
	// reason that is not the event's, e.g. unauthenticated).
	Code   eventgrpcv1.ResultCode
	Reason string
}

// Stats counts events since New. Tracked = Delivered + Rejected +
// Dropped(after queueing) + Saved + Queued + in flight; events refused by
// Track are in Dropped only.
type Stats struct {
	Tracked     int64 // accepted by Track
	Delivered   int64 // accepted by the service (durable)
	Rejected    int64 // refused by the service for good
	Dropped     int64 // given up by the client (queue full, closed, deadline)
	Retries     int64 // requests sent again
	OptedOut    int64 // calls ignored while opted out (neither tracked nor sent)
	Loaded      int64 // reloaded from StateDir by New (also in Tracked)
	Saved       int64 // left in StateDir by Close for the next New
	StateErrors int64 // writes to StateDir that failed (logged; events stay queued in memory)
	Queued      int64 // waiting to be sent (not counting the batch in flight)
	QueuedBytes int64
}

// Client batches and sends events. Safe for concurrent use.
type Client struct {
	cfg    Config
	sender *Sender // every attempt of every batch

	mu        sync.Mutex
	queue     []item
	qbytes    int64
	seq       uint64 // last seq given
	settled   uint64 // every seq <= settled is settled
	flushTo   uint64 // send regardless of batch size until settled >= flushTo
	closed    bool
	settledCh chan struct{} // closed and replaced when settled moves
	stats     Stats

	wake    chan struct{}
	stop    chan struct{} // closed by Close when its deadline passed
	done    chan struct{} // closed when the sender returned
	stopped sync.Once

	closeJournal sync.Once
	log          *slog.Logger // nil: silent
	journal      *journal     // nil: no StateDir
	state        *stateFile   // nil: no StateDir
	stateMu      sync.Mutex   // serialises the writes of state
	optedOut     bool         // under mu
	userID       string       // under mu: the identified user
	anonID       string       // under mu
}

type item struct {
	ev   *eventgrpcv1.Event
	size int
	seq  uint64
}

// New builds a Client and starts its sending goroutine; Close stops it.
func New(cfg Config) (*Client, error) {
	if cfg.URL == "" {
		return nil, errors.New("event-grpc client: URL is required")
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.MaxBatchEvents, 500)
	def(&cfg.MaxBatchBytes, 1<<20)
	def(&cfg.MaxQueueEvents, 100_000)
	if cfg.MaxQueueBytes <= 0 {
		cfg.MaxQueueBytes = 64 << 20
	}
	defd(&cfg.FlushInterval, time.Second)
	defd(&cfg.RequestTimeout, 10*time.Second)
	defd(&cfg.MinBackoff, 100*time.Millisecond)
	defd(&cfg.MaxBackoff, 30*time.Second)
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	sender, err := NewSender(cfg)
	if err != nil {
		return nil, err
	}
	cfg = sender.cfg
	c := &Client{cfg: cfg, sender: sender, settledCh: make(chan struct{}),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		log: cfg.Logger, optedOut: cfg.OptedOut, anonID: cfg.AnonymousID}
	kept := false
	if cfg.StateDir != "" {
		if kept, err = c.openState(); err != nil {
			return nil, err
		}
	}
	if c.anonID == "" {
		c.anonID = newAnonymousID()
	}
	if !kept {
		c.saveState()
	}
	go c.run()
	if c.journal != nil {
		go c.syncEvery(cfg.FlushInterval)
	}
	return c, nil
}

// Track queues ev, minting its id (UUIDv7) and timestamp (now, epoch ms)
// when empty; ev must not be changed afterwards. It never blocks: an event
// that does not fit is dropped with ErrQueueFull, counted and reported.
func (c *Client) Track(ev *eventgrpcv1.Event) error {
	c.mu.Lock()
	out := c.optedOut
	if out {
		c.stats.OptedOut++
	}
	c.mu.Unlock()
	if out {
		c.debug("opted out: event not tracked")
		return nil
	}
	return c.enqueue(ev)
}

// enqueue is Track without the opt-out check.
func (c *Client) enqueue(ev *eventgrpcv1.Event) error {
	if ev.Id == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("event-grpc client: mint id: %w", err)
		}
		ev.Id = id.String()
	}
	if ev.Timestamp == "" {
		ev.Timestamp = strconv.FormatInt(c.cfg.Now().UnixMilli(), 10)
	}
	size := proto.Size(ev)
	c.mu.Lock()
	var err error
	switch {
	case c.closed:
		err = ErrClosed
	case size > c.cfg.MaxBatchBytes:
		err = ErrTooLarge
	case len(c.queue) >= c.cfg.MaxQueueEvents || c.qbytes+int64(size) > c.cfg.MaxQueueBytes:
		err = ErrQueueFull
	}
	if err != nil {
		c.stats.Dropped++
		c.mu.Unlock()
		c.warn("event dropped", "events", 1, "reason", err)
		if c.cfg.OnDropped != nil {
			c.cfg.OnDropped(1, err)
		}
		return err
	}
	c.seq++
	if c.journal != nil {
		c.persist(ev, c.seq)
	}
	c.queue = append(c.queue, item{ev: ev, size: size, seq: c.seq})
	c.qbytes += int64(size)
	c.stats.Tracked++
	full := len(c.queue) == c.cfg.MaxBatchEvents || (c.qbytes >= int64(c.cfg.MaxBatchBytes) && c.qbytes-int64(size) < int64(c.cfg.MaxBatchBytes))
	c.mu.Unlock()
	if full {
		c.poke()
	}
	return nil
}

func (c *Client) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Flush sends everything tracked before the call and returns once the
// service answered for it (delivered or rejected) or it was dropped, or
// with ctx's error when ctx ends first (the events stay queued).
func (c *Client) Flush(ctx context.Context) error {
	c.syncJournal()
	c.mu.Lock()
	target := c.seq
	if target > c.flushTo {
		c.flushTo = target
	}
	c.mu.Unlock()
	c.poke()
	for {
		c.mu.Lock()
		if c.settled >= target {
			c.mu.Unlock()
			return nil
		}
		ch := c.settledCh
		c.mu.Unlock()
		select {
		case <-ch:
		case <-c.done:
			c.mu.Lock()
			ok := c.settled >= target
			c.mu.Unlock()
			if !ok {
				return ErrClosed
			}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close stops taking events and delivers what is queued, within ctx's
// deadline; then it stops the sender. Events still undelivered at the
// deadline are dropped, counted and reported, and Close returns an error
// saying how many. Safe to call twice.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	err := c.Flush(ctx)
	c.stopped.Do(func() { close(c.stop) })
	<-c.done
	c.sender.Close()
	var jerr error
	c.closeJournal.Do(func() {
		if c.journal != nil {
			jerr = c.journal.close()
		}
	})
	if err != nil && !errors.Is(err, ErrClosed) {
		c.mu.Lock()
		lost, saved := c.stats.Dropped, c.stats.Saved
		c.mu.Unlock()
		if c.journal != nil {
			return errors.Join(fmt.Errorf("event-grpc client: close: %w (Stats().Saved = %d kept in StateDir for the next New, Stats().Dropped = %d)", err, saved, lost), jerr)
		}
		return fmt.Errorf("event-grpc client: close: %w (Stats().Dropped = %d)", err, lost)
	}
	if jerr != nil {
		return fmt.Errorf("event-grpc client: close: %w", jerr)
	}
	return nil
}

// Stats returns the counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Queued = int64(len(c.queue))
	s.QueuedBytes = c.qbytes
	return s
}
