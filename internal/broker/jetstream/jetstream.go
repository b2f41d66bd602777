package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/event-grpc/event-grpc/internal/backoff"
	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/component"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// Broker is a broker.Broker and broker.DeadLetters on NATS JetStream.
type Broker struct {
	cfg   Config
	top   *topology.Topology
	names *names
	log   *slog.Logger
	m     *metrics

	srv *server.Server // nil with an external server
	nc  *nats.Conn
	// connectErr is why the last connection attempt failed, until one
	// succeeds.
	connectErr atomic.Pointer[error]
	js         jetstream.JetStream
	// streams holds each queue's and error queue's stream handle, set by
	// declare.
	streamsMu sync.Mutex
	streams   map[string]jetstream.Stream
	// maxPayload is the largest message the server accepts; a pull
	// request's byte budget never goes below it, so no message is too big
	// to fetch.
	maxPayload atomic.Int64

	// closing is closed when Close starts; lifetime is cancelled then, and
	// ends handler contexts and waits that outlive their caller's context.
	closing      chan struct{}
	lifetime     context.Context
	stopLifetime context.CancelFunc
	connClosed   chan struct{}
	closeOnce    sync.Once
	closeErr     error

	readyMu  sync.Mutex
	readyAt  time.Time
	readyErr error

	// stateMu guards what Start sets while Ready and Close may run: the
	// server, the connection, and whether the topology is declared.
	stateMu    sync.Mutex
	started    bool
	declared   bool
	declareErr error // why the topology is not declared yet
	// bg counts the goroutine declaring in the background.
	bg sync.WaitGroup
}

var (
	_ broker.Broker       = (*Broker)(nil)
	_ broker.DeadLetters  = (*Broker)(nil)
	_ component.Component = (*Broker)(nil)
)

// New builds a Broker for cfg; it does no I/O. Start starts the embedded
// server (or connects to cfg.URL) and declares the topology.
// defaultMaxPayload is the server's max payload until the broker has
// connected and read the server's own.
const defaultMaxPayload = server.MAX_PAYLOAD_SIZE

func New(cfg Config) (*Broker, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	nm, err := newNames(cfg.Stream, cfg.Topology)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("jetstream: metrics: %w", err)
	}
	b := &Broker{
		cfg:        cfg,
		top:        cfg.Topology,
		names:      nm,
		log:        cfg.Logger,
		m:          m,
		closing:    make(chan struct{}),
		connClosed: make(chan struct{}),
		streams:    map[string]jetstream.Stream{},
		// The server's default until a connection says otherwise (the
		// embedded server keeps it).
	}
	b.lifetime, b.stopLifetime = context.WithCancel(context.Background())
	return b, nil
}

// Start starts the embedded server (or connects to cfg.URL) and declares
// the topology: the stream and one durable consumer per queue and error
// queue. Declaring is idempotent; settings a running stream cannot take
// (another retention) fail Start. The embedded server is a local store:
// when it cannot start, or the topology cannot be declared before ctx
// ends, Start fails. An external server is a server: Start makes the
// first attempt (connect, then declare, within ctx) and returns; when the
// server cannot be reached, or answers too late, the broker starts not
// Ready (NotReady says why) and connects and declares in the background,
// with backoff, when it answers. Later calls, and calls after Close, do
// nothing.
func (b *Broker) Start(ctx context.Context) error {
	b.stateMu.Lock()
	if b.started || b.isClosing() {
		b.stateMu.Unlock()
		return nil
	}
	b.started = true
	b.stateMu.Unlock()
	if b.cfg.URL == "" {
		return b.startLocal(ctx)
	}
	if err := b.connect(); err != nil { // options only: a server down is retried by the client
		return fmt.Errorf("jetstream: connect %s: %w", b.cfg.URL, err)
	}
	err := errNotConnected
	if b.conn().IsConnected() {
		if err = b.declare(ctx); err == nil {
			b.setDeclared(nil)
			return nil
		}
		if permanentAPIError(err) {
			return fmt.Errorf("jetstream: declare topology: %w", err)
		}
	}
	b.setDeclared(err)
	b.stateMu.Lock()
	defer b.stateMu.Unlock()
	if b.isClosing() {
		return nil
	}
	b.log.Warn("jetstream: not ready; connecting and declaring the topology in the background", "url", b.cfg.URL, "err", err)
	b.bg.Add(1) // under stateMu while not closing: Close waits for it
	go b.declareInBackground()
	return nil
}

// errNotConnected is why an external server's broker is not ready before
// the client first connected.
var errNotConnected = fmt.Errorf("%w: not connected", broker.ErrUnavailable)

// startLocal starts the embedded server, connects in process and declares
// the topology, retrying transient declare failures until ctx ends.
func (b *Broker) startLocal(ctx context.Context) error {
	if err := b.startEmbedded(); err != nil {
		return err
	}
	if err := b.connect(); err != nil {
		return fmt.Errorf("jetstream: connect: %w: %w", broker.ErrUnavailable, err)
	}
	for attempt := 0; ; attempt++ {
		err := b.declare(ctx)
		if err == nil {
			b.setDeclared(nil)
			return nil
		}
		if permanentAPIError(err) || ctx.Err() != nil {
			if !permanentAPIError(err) {
				err = fmt.Errorf("%w: %w", broker.ErrUnavailable, err)
			}
			return fmt.Errorf("jetstream: declare topology: %w", err)
		}
		b.log.Warn("jetstream: declaring the topology failed, retrying", "err", err)
		if backoff.Default.Sleep(ctx, attempt) != nil {
			return fmt.Errorf("jetstream: declare topology: %w: %w", broker.ErrUnavailable, err)
		}
	}
}

// declareInBackground declares the topology on the external server once
// the client is connected, with backoff, until it succeeds or Close.
func (b *Broker) declareInBackground() {
	defer b.bg.Done()
	nc := b.conn()
	for attempt := 0; ; attempt++ {
		if backoff.Default.Sleep(b.lifetime, attempt) != nil {
			return
		}
		err := errNotConnected
		if nc.IsConnected() {
			if err = b.declare(b.lifetime); err == nil {
				b.setDeclared(nil)
				b.log.Info("jetstream: connected; topology declared", "url", b.cfg.URL, "attempts", attempt+1)
				return
			}
		}
		b.setDeclared(err)
		if b.lifetime.Err() != nil {
			return
		}
		if permanentAPIError(err) {
			b.log.Error("jetstream: the server refuses the topology; retrying", "err", err)
		} else if attempt%10 == 9 {
			b.log.Warn("jetstream: not connected yet; retrying", "url", b.cfg.URL, "attempts", attempt+1, "err", err)
		}
	}
}

// setDeclared records the result of declaring the topology: nil once it
// is declared (the broker can be Ready), else why not yet.
func (b *Broker) setDeclared(err error) {
	b.stateMu.Lock()
	b.declared, b.declareErr = err == nil, err
	b.stateMu.Unlock()
}

// conn is the client connection; nil before Start connected.
func (b *Broker) conn() *nats.Conn {
	b.stateMu.Lock()
	defer b.stateMu.Unlock()
	return b.nc
}

func (b *Broker) startEmbedded() error {
	syncAlways, syncInterval := b.cfg.syncOptions()
	opts := &server.Options{
		SyncAlways:   syncAlways,
		SyncInterval: syncInterval,
		ServerName:   "event-grpc",
		Host:         "127.0.0.1",
		Port:         b.cfg.ListenPort,
		DontListen:   b.cfg.ListenPort == 0,
		JetStream:    true,
		StoreDir:     b.cfg.DataDir,
		NoSigs:       true,
		// Bounds each stream's queue of publishes waiting to be stored.
		StreamMaxBufferedSize: b.cfg.StreamBufferedBytes,
		// The HTTP monitor and cluster ports stay closed.
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("jetstream: embedded server: %w", err)
	}
	srv.SetLoggerV2(serverLog{b.log}, false, false, false)
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return fmt.Errorf("jetstream: embedded server in %s did not become ready in 30s", b.cfg.DataDir)
	}
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		srv.WaitForShutdown()
		return fmt.Errorf("jetstream: embedded server could not enable JetStream in %s (see its log)", b.cfg.DataDir)
	}
	b.stateMu.Lock()
	defer b.stateMu.Unlock()
	if b.isClosing() { // Close ran meanwhile and saw no server
		srv.Shutdown()
		srv.WaitForShutdown()
		return fmt.Errorf("jetstream: %w", broker.ErrClosed)
	}
	b.srv = srv
	return nil
}

func (b *Broker) connect() error {
	opts := []nats.Option{
		nats.Name("event-grpc"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		// Publishing while disconnected fails at once instead of buffering,
		// so Publish can answer ErrUnavailable without waiting.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				b.log.Warn("jetstream: disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.connectErr.Store(nil)
			b.log.Info("jetstream: reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		// Why the last attempt failed (a refused certificate, a server
		// that wants TLS), for NotReady.
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				b.connectErr.Store(&err)
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			b.log.Warn("jetstream: connection error", "err", err)
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(b.connClosed) }),
	}
	if b.cfg.TLS != nil {
		opts = append(opts, nats.Secure(b.cfg.TLS.Clone()))
	}
	url := b.cfg.URL
	if b.srv != nil {
		opts = append(opts, nats.InProcessServer(b.srv))
		url = ""
	} else {
		// A server that is down now is connected to when it answers:
		// Connect returns a client that keeps trying.
		opts = append(opts, nats.RetryOnFailedConnect(true))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return err
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(b.cfg.MaxPending),
		jetstream.WithPublishAsyncTimeout(b.cfg.PublishTimeout),
	)
	if err != nil {
		nc.Close()
		<-b.connClosed
		b.connClosed = make(chan struct{})
		return err
	}
	b.stateMu.Lock()
	defer b.stateMu.Unlock()
	if b.isClosing() { // Close ran meanwhile and saw no connection
		nc.Close()
		return fmt.Errorf("jetstream: %w", broker.ErrClosed)
	}
	b.nc, b.js = nc, js
	if mp := int(nc.MaxPayload()); mp > 0 { // 0 until connected
		b.maxPayload.Store(int64(mp))
	}
	return nil
}

// declare creates or updates every queue's stream and consumer: one
// stream per queue and per error queue, so that each is bounded for itself
// (a queue nothing drains, or a growing dead-letter queue, fills its own
// stream and refuses its own publishes, never another queue's). A queue's
// stream keeps at most its topology.Queue.QueueMaxBytes (Config.MaxBytes
// when the topology sets none) and refuses publishes beyond it
// (broker.ErrOverloaded); an error queue's keeps at most
// topology.DefaultDeadLetterMaxBytes for topology.DefaultDeadLetterMaxAge,
// dropping its oldest dead letters first, as the RabbitMQ error queues do.
func (b *Broker) declare(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	legacy, err := b.parkLegacy(ctx)
	if err != nil {
		return err
	}
	for _, q := range b.top.Queues {
		limit := b.cfg.MaxBytes // the default bound, set by applyDefaults
		if q.MaxBytes > 0 {
			limit = q.MaxBytes
		}
		if err := b.declareStream(ctx, q.Name, limit, jetstream.DiscardNew, 0); err != nil {
			return err
		}
		if err := b.declareStream(ctx, q.ErrorQueue(), topology.DefaultDeadLetterMaxBytes, jetstream.DiscardOld, topology.DefaultDeadLetterMaxAge); err != nil {
			return err
		}
		if err := b.declareConsumer(ctx, q.Name); err != nil {
			return err
		}
		if err := b.declareConsumer(ctx, q.ErrorQueue()); err != nil {
			return err
		}
	}
	if legacy != nil {
		return b.migrateLegacy(ctx, legacy)
	}
	return nil
}

func (b *Broker) declareStream(ctx context.Context, queue string, maxBytes int64, discard jetstream.DiscardPolicy, maxAge time.Duration) error {
	n := b.names.byQueue[queue]
	desc := "event-grpc queue " + queue
	if n.owner != "" {
		desc = "event-grpc error queue " + queue
	}
	s, err := b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        n.stream,
		Description: desc,
		Subjects:    []string{n.subject},
		// The queue's consumer is the stream's only reader: a work queue
		// drops a message exactly when the queue acked it, and keeps it
		// while nobody has.
		Retention:  jetstream.WorkQueuePolicy,
		Storage:    jetstream.FileStorage,
		Discard:    discard,
		MaxBytes:   maxBytes,
		MaxMsgs:    -1,
		MaxAge:     maxAge,
		Duplicates: DefaultDuplicates,
		Replicas:   b.cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("stream %s (queue %s): %w", n.stream, queue, err)
	}
	b.streamsMu.Lock()
	b.streams[queue] = s
	b.streamsMu.Unlock()
	return nil
}

// streamOf is the handle of queue's stream (declared by Start).
func (b *Broker) streamOf(queue string) (jetstream.Stream, error) {
	b.streamsMu.Lock()
	defer b.streamsMu.Unlock()
	s, ok := b.streams[queue]
	if !ok {
		return nil, fmt.Errorf("the stream of queue %q is not declared", queue)
	}
	return s, nil
}

// parkLegacy finds the single stream that held every queue before each
// queue had its own (named Config.Stream, subjects "<Stream>.q.>"). An
// empty one is deleted. One that still holds messages is moved to subjects
// nothing publishes to, so that the queues' streams can take the old
// subjects, and returned for migrateLegacy to empty. nil when there is
// none.
func (b *Broker) parkLegacy(ctx context.Context) (jetstream.Stream, error) {
	s, err := b.js.Stream(ctx, b.cfg.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", b.cfg.Stream, err)
	}
	info := s.CachedInfo()
	if info.State.Msgs == 0 {
		if err := b.js.DeleteStream(ctx, b.cfg.Stream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("delete the empty legacy stream %s: %w", b.cfg.Stream, err)
		}
		return nil, nil
	}
	if len(info.Config.Subjects) != 1 || info.Config.Subjects[0] != parkedSubjects(b.cfg.Stream)[0] {
		// Its consumers read the old subjects; the messages stay when
		// they go (deleting a work queue's consumer deletes no message).
		for name := range s.ConsumerNames(ctx).Name() {
			if err := s.DeleteConsumer(ctx, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
				return nil, fmt.Errorf("legacy stream %s: delete consumer %s: %w", b.cfg.Stream, name, err)
			}
		}
		cfg := info.Config
		cfg.Subjects = parkedSubjects(b.cfg.Stream)
		if s, err = b.js.UpdateStream(ctx, cfg); err != nil {
			return nil, fmt.Errorf("park the legacy stream %s: %w", b.cfg.Stream, err)
		}
	}
	b.log.Info("jetstream: moving the messages of the single legacy stream into the queues' own streams",
		"stream", b.cfg.Stream, "messages", info.State.Msgs)
	return s, nil
}

// migrateLegacy hands every message of the parked legacy stream to the
// stream of the queue its subject names, deleting each from the legacy
// stream only after its copy is stored, then deletes the legacy stream.
// A crash in between leaves the legacy stream parked, and the next start
// goes on from there; a message copied but not yet deleted is copied
// again with its own Nats-Msg-Id, which the queue's stream (within its
// duplicate window) and the sinks' event_id de-duplication absorb.
func (b *Broker) migrateLegacy(ctx context.Context, legacy jetstream.Stream) error {
	moved := 0
	for seq := uint64(1); ; {
		raw, err := legacy.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(legacySubjects(b.cfg.Stream)[0]))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return fmt.Errorf("migrate legacy stream %s: read: %w", b.cfg.Stream, err)
		}
		seq = raw.Sequence + 1
		stream, ok := b.names.bySubject[raw.Subject]
		if !ok {
			b.log.Warn("jetstream: a legacy message names no queue of the topology; left in the legacy stream",
				"stream", b.cfg.Stream, "subject", raw.Subject, "seq", raw.Sequence)
			continue
		}
		if _, err := b.js.PublishMsg(ctx, &nats.Msg{Subject: raw.Subject, Header: raw.Header, Data: raw.Data}, jetstream.WithExpectStream(stream)); err != nil {
			return fmt.Errorf("migrate legacy stream %s: copy message %d to %s: %w", b.cfg.Stream, raw.Sequence, stream, err)
		}
		if err := legacy.DeleteMsg(ctx, raw.Sequence); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("migrate legacy stream %s: delete message %d: %w", b.cfg.Stream, raw.Sequence, err)
		}
		moved++
	}
	info, err := legacy.Info(ctx)
	if err != nil {
		return fmt.Errorf("migrate legacy stream %s: %w", b.cfg.Stream, err)
	}
	if info.State.Msgs > 0 {
		b.log.Warn("jetstream: the legacy stream keeps messages of no current queue", "stream", b.cfg.Stream, "messages", info.State.Msgs)
		return nil
	}
	if err := b.js.DeleteStream(ctx, b.cfg.Stream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("migrate legacy stream %s: delete: %w", b.cfg.Stream, err)
	}
	b.log.Info("jetstream: the legacy stream is migrated and deleted", "stream", b.cfg.Stream, "moved", moved)
	return nil
}

// errorQueueMaxAckPending bounds the dead letters one Replay holds.
const errorQueueMaxAckPending = 1000

func (b *Broker) declareConsumer(ctx context.Context, queue string) error {
	n, ok := b.names.byQueue[queue]
	if !ok {
		return fmt.Errorf("queue %q is not in the topology", queue)
	}
	maxAck := errorQueueMaxAckPending
	desc := "event-grpc error queue " + queue
	if n.owner == "" {
		q, _ := b.top.Queue(queue)
		maxAck = max(1, q.Prefetch) * max(1, q.Consumers)
		desc = "event-grpc queue " + queue
	}
	_, err := b.js.CreateOrUpdateConsumer(ctx, n.stream, jetstream.ConsumerConfig{
		Durable:       n.durable,
		Description:   desc,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       b.cfg.AckWait,
		MaxDeliver:    -1,
		FilterSubject: n.subject,
		ReplayPolicy:  jetstream.ReplayInstantPolicy,
		MaxAckPending: maxAck,
	})
	if err != nil {
		return fmt.Errorf("consumer %s (queue %s): %w", n.durable, queue, err)
	}
	return nil
}

// permanentAPIError reports whether the server refused a request for a
// reason that retrying will not change (a bad or conflicting setting).
func permanentAPIError(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code == 400 || apiErr.Code == 409
	}
	return false
}

// Ready reports whether the connection is up, the topology declared and
// the JetStream API answers. The API check is cached for a second.
func (b *Broker) Ready() bool { return b.NotReady() == nil }

// NotReady is nil when the broker is Ready, else why not: not started,
// closed, not connected, the topology not declared yet (with the last
// attempt's error), or the JetStream API not answering.
func (b *Broker) NotReady() error {
	if b.isClosing() {
		return fmt.Errorf("jetstream: %w", broker.ErrClosed)
	}
	b.stateMu.Lock()
	started, nc, js, declared, declareErr := b.started, b.nc, b.js, b.declared, b.declareErr
	b.stateMu.Unlock()
	switch {
	case !started:
		return errors.New("jetstream: not started")
	case nc == nil:
		return errors.New("jetstream: not connected")
	case !nc.IsConnected():
		if last := b.connectErr.Load(); last != nil {
			return fmt.Errorf("jetstream: %w: not connected (%s): %w", broker.ErrUnavailable, nc.Status(), *last)
		}
		return fmt.Errorf("jetstream: %w: not connected (%s)", broker.ErrUnavailable, nc.Status())
	case !declared && declareErr != nil:
		return fmt.Errorf("jetstream: topology not declared: %w", declareErr)
	case !declared:
		return errors.New("jetstream: topology not declared")
	}
	b.readyMu.Lock()
	defer b.readyMu.Unlock()
	if time.Since(b.readyAt) < time.Second {
		return b.readyErr
	}
	ctx, cancel := context.WithTimeout(b.lifetime, time.Second)
	defer cancel()
	_, err := js.AccountInfo(ctx)
	b.readyAt, b.readyErr = time.Now(), nil
	if err != nil {
		b.readyErr = fmt.Errorf("jetstream: the JetStream API does not answer: %w", err)
	}
	return b.readyErr
}

// Component is the broker as a part of the service: Start, Shutdown
// (Close) and readiness (NotReady).
func (b *Broker) Component() component.Component { return component.WithReady(b, b.NotReady) }

// Shutdown is Close, for component.Component.
func (b *Broker) Shutdown(ctx context.Context) error { return b.Close(ctx) }

// ClientURL is where the nats CLI can reach the server: the external URL,
// or the embedded server's listener when ListenPort is set; empty
// otherwise.
func (b *Broker) ClientURL() string {
	if b.srv == nil {
		return b.cfg.URL
	}
	if b.cfg.ListenPort == 0 {
		return ""
	}
	return b.srv.ClientURL()
}

// Close drains the connection (pending acks and publishes are flushed)
// and shuts the embedded server down. Safe to call twice; honours ctx.
func (b *Broker) Close(ctx context.Context) error {
	b.closeOnce.Do(func() {
		b.stateMu.Lock()
		close(b.closing)
		nc, srv := b.nc, b.srv
		b.stateMu.Unlock()
		b.stopLifetime()
		b.bg.Wait() // a background declare ends with lifetime
		var errs []error
		if nc != nil {
			if err := nc.Drain(); err != nil {
				nc.Close()
			}
			select {
			case <-b.connClosed:
			case <-ctx.Done():
				errs = append(errs, fmt.Errorf("jetstream: drain: %w", ctx.Err()))
				nc.Close()
				<-b.connClosed
			}
		}
		if srv != nil {
			srv.Shutdown()
			srv.WaitForShutdown()
		}
		b.closeErr = errors.Join(errs...)
	})
	return b.closeErr
}

func (b *Broker) isClosing() bool {
	select {
	case <-b.closing:
		return true
	default:
		return false
	}
}

// serverLog passes the embedded server's log to slog: notices at debug
// level, warnings and errors as such; its debug and trace output is off.
type serverLog struct{ l *slog.Logger }

func (s serverLog) log(level slog.Level, format string, v []any) {
	if s.l.Enabled(context.Background(), level) {
		s.l.Log(context.Background(), level, "nats-server: "+fmt.Sprintf(format, v...))
	}
}

func (s serverLog) Noticef(format string, v ...any) { s.log(slog.LevelDebug, format, v) }
func (s serverLog) Warnf(format string, v ...any)   { s.log(slog.LevelWarn, format, v) }
func (s serverLog) Fatalf(format string, v ...any)  { s.log(slog.LevelError, format, v) }
func (s serverLog) Errorf(format string, v ...any)  { s.log(slog.LevelError, format, v) }
func (s serverLog) Debugf(string, ...any)           {}
func (s serverLog) Tracef(string, ...any)           {}
