package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/event-grpc/event-grpc/internal/component"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/schema"
)

// ErrNotConnected is the transient error a Connecting sink's Write and
// Query answer until its database is reached.
var ErrNotConnected = errors.New("not connected yet")

// Connecting is a Sink whose database is opened in the background (by a
// component.Connector), so that a server that is down when the service
// starts leaves the service running and not ready, not exited (a database
// that returns later is connected to then). Until connected, Write
// answers a transient error (the consume runner holds the batch and backs
// off, spending no retry budget), Query answers the same, and Ready says
// why; Migrate records the tables, which are migrated once connected,
// before Ready turns nil. It keeps the component contract: nothing is
// dialled until Start, and Shutdown (Close) is safe before Start and
// twice, keeps to its deadline and always closes the database's sink,
// later when an open was still running at the deadline.
type Connecting struct {
	name string
	open func(ctx context.Context) (Sink, error)
	conn component.Connector

	mu      sync.RWMutex
	s       Sink
	tables  []*schema.Table
	lastErr error
}

var (
	_ Sink                = (*Connecting)(nil)
	_ Querier             = (*Connecting)(nil)
	_ component.Component = (*Connecting)(nil)
	_ component.Readier   = (*Connecting)(nil)
)

// NewConnecting returns a sink named name (for logs and errors) that opens
// its database with open; nothing is dialled until Start.
func NewConnecting(name string, open func(ctx context.Context) (Sink, error), log *slog.Logger) *Connecting {
	c := &Connecting{name: name, open: open}
	c.conn = component.Connector{Name: name, Connect: c.try, Disconnect: c.disconnect, Logger: log}
	return c
}

// NewOpenAtStart is NewConnecting for a database in a local file: Start
// opens it (and migrates the recorded tables) within its ctx and returns
// the error, with no retries in the background; a file that cannot be
// opened is a configuration error, not a server that is down.
func NewOpenAtStart(name string, open func(ctx context.Context) (Sink, error), log *slog.Logger) *Connecting {
	c := NewConnecting(name, open, log)
	c.conn.FailFast = true
	return c
}

// Start begins connecting (and migrating the recorded tables), with
// backoff, until it succeeds or Shutdown is called; it returns once the
// first try finished or ctx ended, and tries on in the background.
func (c *Connecting) Start(ctx context.Context) error { return c.conn.Start(ctx) }

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

// Ready returns nil when the database is connected and migrated, else
// why not.
func (c *Connecting) Ready() error { return c.conn.Ready() }

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

// Shutdown stops connecting and closes the database's sink, within ctx.
// Safe twice, and before Start.
func (c *Connecting) Shutdown(ctx context.Context) error { return c.conn.Shutdown(ctx) }

// Close is Shutdown (the Sink's name for it).
func (c *Connecting) Close(ctx context.Context) error { return c.Shutdown(ctx) }

// disconnect closes the connected sink, if any (once no open runs).
func (c *Connecting) disconnect(ctx context.Context) error {
	c.mu.Lock()
	s := c.s
	c.s = nil
	c.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.Close(ctx)
}
