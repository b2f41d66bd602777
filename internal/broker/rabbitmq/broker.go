package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/event-grpc/event-grpc/internal/backoff"
	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/component"
)

// reconnectBackoff paces reconnects and consumer restarts: capped at 2 s,
// so service resumes within about 2 s of the server coming back, while a
// down server sees at most one attempt every 2 s per instance.
var reconnectBackoff = backoff.Policy{Initial: 100 * time.Millisecond, Max: 2 * time.Second}

// Broker is a connection to RabbitMQ that declares the topology, publishes
// with confirms and runs consumers. It reconnects by itself. Safe for
// concurrent use.
type Broker struct {
	cfg       Config
	log       *slog.Logger
	m         *metrics
	amqpCfg   amqp.Config
	errorExch string
	// known are exchanges that exist on the server (the topology's).
	known map[string]bool
	// packed are the topology's exchanges whose messages the service
	// routes itself, packed per queue (not typed; see Packs).
	packed map[string]bool
	// verified caches other exchanges found to exist by a passive declare.
	verified sync.Map
	// next is the index in cfg.URLs of the node the next dial tries first.
	next atomic.Uint32

	mu      sync.Mutex
	sess    *session      // nil while disconnected
	changed chan struct{} // closed and replaced whenever sess changes
	closed  bool
	// started is set by Start; startGaveUp when Start stopped waiting
	// for the first attempt (its ctx ended).
	started, startGaveUp bool
	// lastErr is why the last connection attempt failed; nil once one
	// succeeded.
	lastErr error
	// consumers counts the goroutines of running Consume calls; Add only
	// under mu while !closed.
	consumers sync.WaitGroup

	// closing ends when Close starts: no new work; consumers finish the
	// batch in hand. hard ends when Close stops waiting for them.
	closing    context.Context
	startClose context.CancelFunc
	hard       context.Context
	hardStop   context.CancelFunc
	wg         sync.WaitGroup // internal goroutines
	closeOnce  sync.Once
	closeDone  chan struct{} // closed when close has finished
	closeErr   error         // set before closeDone is closed
}

// session is one live connection with its publisher channels.
type session struct {
	conn    *amqp.Connection
	pubs    []*pubSlot
	lost    chan struct{} // closed when conn closed, for any reason
	lossErr atomic.Pointer[amqp.Error]
	blocked atomic.Bool // the server blocked publishing (resource alarm)
}

func (s *session) isLost() bool {
	select {
	case <-s.lost:
		return true
	default:
		return false
	}
}

// DeclareError lists the topology declarations the server refused, for
// example a queue that exists with other arguments.
type DeclareError struct {
	Problems []error
}

func (e *DeclareError) Error() string {
	var b []byte
	b = fmt.Appendf(b, "rabbitmq: %d topology declaration(s) refused", len(e.Problems))
	for _, p := range e.Problems {
		b = append(b, "; "...)
		b = append(b, p.Error()...)
	}
	return string(b)
}

// Unwrap exposes the problems to errors.Is / errors.As.
func (e *DeclareError) Unwrap() []error { return e.Problems }

// New builds a Broker for cfg; it does no I/O. Start connects it.
func New(cfg Config) (*Broker, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	b := &Broker{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "rabbitmq"),
		m:         m,
		errorExch: defaultErrorExchange,
		known:     map[string]bool{"": true},
		packed:    map[string]bool{},
		changed:   make(chan struct{}),
		closeDone: make(chan struct{}),
		amqpCfg: amqp.Config{
			Heartbeat:       cfg.Heartbeat,
			Locale:          "en_US",
			Dial:            amqp.DefaultDial(dialTimeout),
			Properties:      amqp.Table{"connection_name": "event-grpc"},
			TLSClientConfig: cfg.TLS,
		},
	}
	if cfg.Topology != nil {
		b.errorExch = cfg.Topology.ErrorExchange
		for _, e := range cfg.Topology.Exchanges {
			b.known[e.Name] = true
			b.packed[e.Name] = !e.Typed && e.Name != cfg.Topology.ErrorExchange
		}
		for _, name := range cfg.TypedExchanges {
			b.packed[name] = false
		}
	}
	b.closing, b.startClose = context.WithCancel(context.Background())
	b.hard, b.hardStop = context.WithCancel(context.Background())
	return b, nil
}

// Start connects to cfg.URLs, declares cfg.Topology and opens the
// publisher channels: it makes the first attempt and returns once it
// finished or ctx ended. With the server up the broker is Ready when
// Start returns. A server that cannot be reached is not an error: the
// broker starts not Ready (NotReady says why, wrapping
// broker.ErrUnavailable) and connects with backoff when the server
// answers. A topology the server refuses fails Start with a *DeclareError
// listing every refused declaration (when the first attempt ends after
// ctx, it is logged and the rest of the topology is used, as after a
// reconnect). Once started the Broker keeps itself connected until Close.
// Later calls, and calls after Close, do nothing.
func (b *Broker) Start(ctx context.Context) error {
	b.mu.Lock()
	if b.started || b.closed {
		b.mu.Unlock()
		return nil
	}
	b.started = true
	b.wg.Add(1)
	b.mu.Unlock()
	first := make(chan error, 1)
	go b.run(first)
	select {
	case err := <-first:
		return err
	case <-ctx.Done():
	}
	// The attempt goes on; run hands over its result only while Start
	// still waits (decided under mu, so none is lost).
	b.mu.Lock()
	defer b.mu.Unlock()
	b.startGaveUp = true
	select {
	case err := <-first:
		return err
	default:
		return nil
	}
}

// run makes the first connection attempt, reports it to Start through
// first (at most once) and then keeps the broker connected until Close.
func (b *Broker) run(first chan<- error) {
	defer b.wg.Done()
	s, err := b.connect()
	var de *DeclareError
	if errors.As(err, &de) {
		b.mu.Lock()
		fatal := !b.startGaveUp
		if fatal {
			first <- err
		}
		b.mu.Unlock()
		if fatal {
			b.closeSession(s)
			return
		}
		b.log.Error("topology does not match the server", "err", err)
		err = nil
	}
	if err != nil {
		b.connectFailed(s, err)
		b.log.Warn("server unreachable at start; not ready, connecting in the background", "err", err)
		// supervise starts from a lost session: it reconnects with
		// backoff, and the broker becomes Ready when the server answers.
		s = &session{lost: make(chan struct{})}
		close(s.lost)
	} else if !b.setSession(s) { // Close has begun
		first <- nil
		return
	}
	first <- nil // the channel holds one; nothing was sent before
	b.supervise(s)
}

// defaultErrorExchange is used for dead letters when no topology is given.
const defaultErrorExchange = "grpc_event_error.dx"

// connect dials, declares the topology and opens the publisher channels.
// On error the returned session, if not nil, must be closed by the caller.
func (b *Broker) connect() (*session, error) {
	conn, err := b.dial()
	if err != nil {
		return nil, err
	}
	s := &session{conn: conn, lost: make(chan struct{})}
	closes := conn.NotifyClose(make(chan *amqp.Error, 1))
	blocks := conn.NotifyBlocked(make(chan amqp.Blocking, 1))
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			select {
			case bl, ok := <-blocks:
				if !ok {
					blocks = nil
					continue
				}
				s.blocked.Store(bl.Active)
			case err := <-closes:
				if err != nil {
					s.lossErr.Store(err)
				}
				close(s.lost)
				// Drain until the library closes the listener.
				if blocks != nil {
					for range blocks {
					}
				}
				return
			}
		}
	}()

	problems, err := declare(conn, b.cfg.Topology, b.cfg.QueueType)
	if err != nil {
		return s, fmt.Errorf("rabbitmq: declaring the topology: %w: %v", broker.ErrUnavailable, err)
	}
	for i := 0; i < b.cfg.PublishChannels; i++ {
		pc, err := b.openPublisher(s)
		if err != nil {
			return s, fmt.Errorf("rabbitmq: opening publisher channel: %w: %v", broker.ErrUnavailable, err)
		}
		slot := &pubSlot{}
		slot.cur.Store(pc)
		s.pubs = append(s.pubs, slot)
	}
	for _, slot := range s.pubs {
		b.wg.Add(1)
		go b.keepPublisher(s, slot)
	}
	if len(problems) > 0 {
		b.m.declareErrors.Add(float64(len(problems)))
		return s, &DeclareError{Problems: problems}
	}
	return s, nil
}

// dial connects to the first node of cfg.URLs that answers, starting
// with the one after the node last connected to (so a node that dropped
// the connection is tried last), and remembers which answered.
func (b *Broker) dial() (*amqp.Connection, error) {
	n := uint32(len(b.cfg.URLs))
	start := b.next.Load()
	var errs []error
	for i := uint32(0); i < n; i++ {
		k := (start + i) % n
		u := b.cfg.URLs[k]
		cfg := b.amqpCfg
		if cfg.TLSClientConfig != nil {
			cfg.TLSClientConfig = cfg.TLSClientConfig.Clone()
		}
		conn, err := amqp.DialConfig(u, cfg)
		if err == nil {
			// After this connection is lost, start with the next node.
			b.next.Store((k + 1) % n)
			if n > 1 {
				b.log.Info("connected", "node", redact(u))
			}
			return conn, nil
		}
		errs = append(errs, fmt.Errorf("%s: %v", redact(u), err))
	}
	return nil, fmt.Errorf("rabbitmq: connect: %w: %v", broker.ErrUnavailable, errors.Join(errs...))
}

// closeSession closes s's connection; its goroutines end with it.
func (b *Broker) closeSession(s *session) {
	if err := s.conn.Close(); err != nil && !errors.Is(err, amqp.ErrClosed) {
		b.log.Debug("closing connection", "err", err)
	}
}

// setSession publishes s (nil while disconnected) and wakes waiters. It
// refuses a new session once Close has begun tearing down, closing it.
func (b *Broker) setSession(s *session) bool {
	b.mu.Lock()
	if s != nil && b.hard.Err() != nil {
		b.mu.Unlock()
		b.closeSession(s)
		return false
	}
	b.sess = s
	if s != nil {
		b.lastErr = nil
	}
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
	if s != nil {
		b.m.ready.Set(1)
	} else {
		b.m.ready.Set(0)
	}
	return true
}

// session returns the live session, or nil.
func (b *Broker) session() *session {
	b.mu.Lock()
	s := b.sess
	b.mu.Unlock()
	if s == nil || s.isLost() {
		return nil
	}
	return s
}

// waitSession blocks until a session is live or ctx ends.
func (b *Broker) waitSession(ctx context.Context) (*session, error) {
	for {
		b.mu.Lock()
		s, changed := b.sess, b.changed
		b.mu.Unlock()
		if s != nil && !s.isLost() {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-b.hard.Done():
			return nil, broker.ErrClosed
		case <-changed: // the supervisor replaces a lost session at once
		}
	}
}

// supervise waits for the connection to be lost and reconnects with
// backoff until Close.
func (b *Broker) supervise(s *session) {
	for {
		select {
		case <-b.closing.Done():
			return
		case <-s.lost:
		}
		b.setSession(nil)
		reason := "closed"
		if e := s.lossErr.Load(); e != nil {
			reason = e.Error()
		}
		b.log.Warn("connection lost; reconnecting", "reason", reason)
		for attempt := 0; ; attempt++ {
			if err := reconnectBackoff.Sleep(b.closing, attempt); err != nil {
				return
			}
			ns, err := b.connect()
			var de *DeclareError
			if errors.As(err, &de) {
				// The server refuses part of the topology it accepted
				// before: someone changed it. Keep going with the rest;
				// the problem is logged and counted.
				b.log.Error("topology does not match the server after reconnect", "err", err)
				err = nil
			}
			if err != nil {
				b.connectFailed(ns, err)
				if attempt == 0 || attempt%10 == 9 {
					b.log.Warn("reconnect failed", "attempt", attempt+1, "err", err)
				}
				continue
			}
			if b.closing.Err() != nil || !b.setSession(ns) {
				b.closeSession(ns)
				return
			}
			b.m.reconnects.Inc()
			b.log.Info("reconnected", "attempts", attempt+1)
			s = ns
			break
		}
	}
}

// Ready reports whether the broker is connected now.
func (b *Broker) Ready() bool { return b.session() != nil && b.closing.Err() == nil }

// NotReady is nil when the broker is Ready, else why not: not started,
// closed, or not connected (wrapping the last attempt's error, which
// wraps broker.ErrUnavailable or is a *DeclareError).
func (b *Broker) NotReady() error {
	if b.Ready() {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed || b.closing.Err() != nil:
		return fmt.Errorf("rabbitmq: %w", broker.ErrClosed)
	case !b.started:
		return errors.New("rabbitmq: not started")
	case b.lastErr != nil:
		return fmt.Errorf("rabbitmq: not connected: %w", b.lastErr)
	default:
		return errors.New("rabbitmq: not connected")
	}
}

// connectFailed closes what a failed connect left (s, when not nil) and
// keeps err for NotReady.
func (b *Broker) connectFailed(s *session, err error) {
	if s != nil {
		b.closeSession(s)
	}
	b.setLastErr(err)
}

func (b *Broker) setLastErr(err error) {
	b.mu.Lock()
	b.lastErr = err
	b.mu.Unlock()
}

// Component is the broker as a part of the service: Start, Shutdown
// (Close) and readiness (NotReady).
func (b *Broker) Component() component.Component { return component.WithReady(b, b.NotReady) }

// Shutdown is Close, for component.Component.
func (b *Broker) Shutdown(ctx context.Context) error { return b.Close(ctx) }

// Close stops the broker: new publishes and consumes fail with
// broker.ErrClosed, running consumers finish and ack the batch in hand and
// return, then the connection is closed. It waits for all of it until ctx
// ends (then handler contexts are cancelled and ctx.Err() returned). Safe to
// call twice; a second call waits for the first.
func (b *Broker) Close(ctx context.Context) error {
	b.closeOnce.Do(func() {
		go func() {
			b.closeErr = b.close()
			close(b.closeDone)
		}()
	})
	select {
	case <-b.closeDone:
		return b.closeErr
	case <-ctx.Done():
		b.hardStop()
		return ctx.Err()
	}
}

func (b *Broker) close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.startClose()
	b.consumers.Wait()
	b.hardStop()
	b.mu.Lock()
	s := b.sess
	b.sess = nil
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
	if s != nil {
		b.closeSession(s)
	}
	b.wg.Wait()
	b.m.ready.Set(0)
	return nil
}

// isClosing reports whether Close has begun.
func (b *Broker) isClosing() bool { return b.closing.Err() != nil }

var (
	_ broker.Broker       = (*Broker)(nil)
	_ broker.DeadLetters  = (*Broker)(nil)
	_ component.Component = (*Broker)(nil)
)
