package component

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/event-grpc/event-grpc/internal/backoff"
)

// ErrNotConnected is what Ready answers (wrapping the last attempt's
// error, when there was one) until the first connection succeeded.
var ErrNotConnected = errors.New("not connected yet")

// ErrStopped is what Ready answers once Shutdown was called.
var ErrStopped = errors.New("stopped")

// lateDisconnect bounds the Disconnect that runs after a Shutdown whose
// deadline passed while an attempt was still running.
const lateDisconnect = 30 * time.Second

// Connector connects to a server in the background, with backoff, until
// it succeeds or is shut down: the one reconnect-at-start loop of the
// service's parts. It is a Component and a Readier. Connect and
// Disconnect hold the part's own state; the Connector only decides when
// they run:
//
//   - Connect runs in a goroutine of Start, again after each failure
//     (waiting Policy between tries), never twice at once, and is
//     cancelled by Shutdown through its ctx;
//   - Disconnect runs exactly once, after the last Connect returned and
//     only when Shutdown was called, whether or not a Connect succeeded.
//     When Shutdown's deadline passes while a Connect is still running,
//     Disconnect runs when it returns, so what it opened is closed.
type Connector struct {
	// Name names the server for logs and errors.
	Name string
	// Connect opens the connection and makes it the part's; nil means
	// connected. It must give up when ctx ends.
	Connect func(ctx context.Context) error
	// Disconnect closes what Connect opened, if it did, within ctx.
	Disconnect func(ctx context.Context) error
	// Policy spaces the tries; zero means backoff.Default.
	Policy backoff.Policy
	// FailFast makes Start run the first Connect itself, within ctx, and
	// return its error, with no retries: for a database in a local file,
	// which cannot be opened is a configuration error, not a server down.
	FailFast bool
	// Logger gets one line per failed try and one when connected; nil
	// means slog.Default().
	Logger *slog.Logger

	mu        sync.Mutex
	started   bool
	stopped   bool
	connected bool
	lastErr   error
	cancel    context.CancelFunc
	loopDone  chan struct{} // closed when no Connect runs or will run
	closed    chan struct{} // closed when Disconnect returned
	closeErr  error
}

func (c *Connector) init() {
	if c.loopDone == nil {
		c.loopDone = make(chan struct{})
		c.closed = make(chan struct{})
	}
}

// Start begins connecting and returns nil once the first try finished or
// ctx ended, whichever comes first: a server that is up is connected when
// Start returns, one that refuses costs one failed dial, and the tries go
// on in the background either way (not bound to ctx). With FailFast it
// connects once within ctx and returns the error. Later calls, and calls
// after Shutdown, do nothing.
func (c *Connector) Start(ctx context.Context) error {
	c.mu.Lock()
	c.init()
	if c.started || c.stopped {
		c.mu.Unlock()
		return nil
	}
	c.started = true
	if c.FailFast {
		tctx, cancel := context.WithCancel(ctx)
		c.cancel = cancel
		c.mu.Unlock()
		defer close(c.loopDone)
		defer cancel()
		err := c.Connect(tctx)
		c.mu.Lock()
		c.connected, c.lastErr = err == nil, err
		c.mu.Unlock()
		if err != nil {
			return fmt.Errorf("%s: %w", c.Name, err)
		}
		return nil
	}
	lifetime, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancel = cancel
	c.mu.Unlock()
	first := make(chan struct{})
	go c.loop(lifetime, first)
	select { // a server that is up is connected when Start returns
	case <-first:
	case <-ctx.Done():
	}
	return nil
}

func (c *Connector) loop(ctx context.Context, first chan struct{}) {
	defer close(c.loopDone)
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	policy := c.Policy
	if policy == (backoff.Policy{}) {
		policy = backoff.Default
	}
	for attempt := 0; ; attempt++ {
		err := c.Connect(ctx)
		c.mu.Lock()
		if err == nil {
			c.connected, c.lastErr = true, nil
		} else {
			c.lastErr = err
		}
		c.mu.Unlock()
		if attempt == 0 {
			close(first)
		}
		if err == nil {
			if attempt > 0 {
				log.Info("connected", "server", c.Name, "attempts", attempt+1)
			}
			return
		}
		if ctx.Err() != nil {
			return
		}
		log.Warn("not connected; retrying in the background", "server", c.Name, "err", err)
		if policy.Sleep(ctx, attempt) != nil {
			return
		}
	}
}

// Ready implements Readier: nil once connected, until Shutdown.
func (c *Connector) Ready() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.stopped:
		return fmt.Errorf("%s: %w", c.Name, ErrStopped)
	case c.connected:
		return nil
	case c.lastErr != nil:
		return fmt.Errorf("%s: %w: %w", c.Name, ErrNotConnected, c.lastErr)
	default:
		return fmt.Errorf("%s: %w", c.Name, ErrNotConnected)
	}
}

// Shutdown stops connecting and runs Disconnect, within ctx. When ctx
// ends first it returns its error, and Disconnect still runs once the
// running Connect returned; a later Shutdown waits for it again. Safe
// before Start and twice.
func (c *Connector) Shutdown(ctx context.Context) error {
	c.mu.Lock()
	c.init()
	if !c.stopped {
		c.stopped = true
		if c.cancel != nil {
			c.cancel()
		} else {
			close(c.loopDone) // never started: nothing to wait for
		}
		go func() {
			<-c.loopDone
			dctx := ctx
			if ctx.Err() != nil { // the caller gave up waiting: close anyway
				var cancel context.CancelFunc
				dctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), lateDisconnect)
				defer cancel()
			}
			if c.Disconnect != nil {
				c.closeErr = c.Disconnect(dctx)
			}
			close(c.closed)
		}()
	}
	closed := c.closed
	c.mu.Unlock()
	select {
	case <-closed:
		return c.closeErr
	case <-ctx.Done():
		return fmt.Errorf("%s: shutdown: %w", c.Name, ctx.Err())
	}
}
