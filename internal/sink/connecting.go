package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/event-grpc/event-grpc/internal/backoff"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/schema"
)

// ErrNotConnected is the transient error a Connecting sink's Write and
// Query answer until its database is reached.
var ErrNotConnected = errors.New("not connected yet")

// Connecting is a Sink whose database is opened in the background, so that
// a server that is down when the service starts leaves the service
// running and not ready, not exited (a database that returns later is
// connected to then). Until connected, Write answers a transient error
// (the consume runner holds the batch and backs off, spending no retry
// budget), Query answers the same, and Ready is false; Migrate records the
// tables, which are migrated once connected, before Ready turns true.
type Connecting struct {
	name string
	open func(ctx context.Context) (Sink, error)
	log  *slog.Logger

	mu      sync.RWMutex
	s       Sink
	tables  []*schema.Table
	lastErr error

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

var (
	_ Sink    = (*Connecting)(nil)
	_ Querier = (*Connecting)(nil)
)

// NewConnecting returns a sink named name (for logs and errors) that opens
// its database with open; nothing is dialled until Start.
func NewConnecting(name string, open func(ctx context.Context) (Sink, error), log *slog.Logger) *Connecting {
	if log == nil {
		log = slog.Default()
	}
	return &Connecting{name: name, open: open, log: log, done: make(chan struct{})}
}

// Start tries to connect (and migrate the recorded tables) once within
// ctx, then returns; when that fails it goes on trying in the background,
// with backoff, until it succeeds or Close is called. The error of the
// first try is returned for the caller to log; the sink works either way.
func (c *Connecting) Start(ctx context.Context) error {
	lifetime, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	err := c.try(ctx)
	if err == nil {
		close(c.done)
		return nil
	}
	go func() {
		defer close(c.done)
		for attempt := 0; ; attempt++ {
			if backoff.Default.Sleep(lifetime, attempt) != nil {
				return
			}
			err := c.try(lifetime)
			if err == nil {
				c.log.Info("sink: connected", "sink", c.name, "attempts", attempt+2)
				return
			}
			if lifetime.Err() != nil {
				return
			}
			c.log.Warn("sink: still not connected; retrying", "sink", c.name, "err", err)
		}
	}()
	return err
}

// try opens the database and migrates the recorded tables, then makes it
// the sink; tables Migrate records meanwhile are migrated before that, and
// no I/O runs under mu.
func (c *Connecting) try(ctx context.Context) error {
	s, err := c.open(ctx)
	if err != nil {
		c.setErr(err)
		return err
	}
	done := 0
	for {
		c.mu.Lock()
		todo := c.tables[done:]
		if len(todo) == 0 {
			c.s, c.lastErr = s, nil
			c.mu.Unlock()
			return nil
		}
		c.mu.Unlock()
		if err := s.Migrate(ctx, todo); err != nil {
			_ = s.Close(context.WithoutCancel(ctx))
			err = fmt.Errorf("migrate: %w", err)
			c.setErr(err)
			return err
		}
		done += len(todo)
	}
}

func (c *Connecting) setErr(err error) {
	c.mu.Lock()
	c.lastErr = err
	c.mu.Unlock()
}

// get returns the connected sink, or the transient error to answer.
func (c *Connecting) get() (Sink, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.s != nil {
		return c.s, nil
	}
	if c.lastErr != nil {
		return nil, fault.Transient(fmt.Errorf("%s: %w: %w", c.name, ErrNotConnected, c.lastErr))
	}
	return nil, fault.Transient(fmt.Errorf("%s: %w", c.name, ErrNotConnected))
}

// Name is the name it was made with (the store's kind).
func (c *Connecting) Name() string { return c.name }

// Ready reports whether the database is connected and migrated.
func (c *Connecting) Ready() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.s != nil
}

// Migrate migrates tables now when connected; otherwise it records them
// for the connection, and returns nil.
func (c *Connecting) Migrate(ctx context.Context, tables []*schema.Table) error {
	c.mu.Lock()
	s := c.s
	if s == nil {
		c.tables = append(c.tables, tables...)
		c.mu.Unlock()
		return nil
	}
	c.tables = append(c.tables, tables...)
	c.mu.Unlock()
	return s.Migrate(ctx, tables)
}

// Write implements Sink.
func (c *Connecting) Write(ctx context.Context, b *schema.Batch) error {
	s, err := c.get()
	if err != nil {
		return err
	}
	return s.Write(ctx, b)
}

// Query implements Querier when the database's sink does.
func (c *Connecting) Query(ctx context.Context, sql string, maxRows int) ([]string, [][]string, error) {
	s, err := c.get()
	if err != nil {
		return nil, nil, err
	}
	q, ok := s.(Querier)
	if !ok {
		return nil, nil, fault.Permanentf("%s has no query endpoint", c.name)
	}
	return q.Query(ctx, sql, maxRows)
}

// Close stops connecting and closes the database's sink. Safe twice, and
// before Start.
func (c *Connecting) Close(ctx context.Context) error {
	var err error
	c.once.Do(func() {
		if c.cancel == nil {
			return
		}
		c.cancel()
		select {
		case <-c.done:
		case <-ctx.Done():
			err = fmt.Errorf("%s: close: %w", c.name, ctx.Err())
			return
		}
		c.mu.Lock()
		s := c.s
		c.s = nil
		c.mu.Unlock()
		if s != nil {
			err = s.Close(ctx)
		}
	})
	return err
}
