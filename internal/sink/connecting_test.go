package sink

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/component"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/schema"
)

// memSink records what it is given.
type memSink struct {
	mu       sync.Mutex
	migrated []string
	rows     int
	closed   int
}

func (m *memSink) Migrate(_ context.Context, tables []*schema.Table) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range tables {
		m.migrated = append(m.migrated, t.Name)
	}
	return nil
}

func (m *memSink) Write(_ context.Context, b *schema.Batch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rows += b.Len()
	return nil
}

func (m *memSink) Close(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed++
	return nil
}

// TestConnectingStartsWithTheServerDown: a database that is down at Start
// is retried in the background; meanwhile writes and queries are
// transient refusals and the sink is not ready; once the database answers,
// the tables recorded by Migrate are created before the sink turns ready,
// and writes go through. Close stops it, closes the database's sink once,
// and is safe twice.
func TestConnectingStartsWithTheServerDown(t *testing.T) {
	mem := &memSink{}
	var up atomic.Bool
	var tries atomic.Int32
	c := NewConnecting("testdb", func(context.Context) (Sink, error) {
		tries.Add(1)
		if !up.Load() {
			return nil, errors.New("dial tcp 127.0.0.1:1: connection refused")
		}
		return mem, nil
	}, slog.New(slog.DiscardHandler))
	if err := c.Migrate(context.Background(), []*schema.Table{numberedTable}); err != nil {
		t.Fatalf("Migrate before connecting: %v", err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatalf("Start with the database down: %v, want nil (it connects in the background)", err)
	}
	for tries.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := c.Ready(); !errors.Is(err, component.ErrNotConnected) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Ready with the database down: %v, want not connected naming the cause", err)
	}
	err := c.Write(context.Background(), numbered(3))
	if !errors.Is(err, ErrNotConnected) || fault.KindOf(err) != fault.KindTransient {
		t.Fatalf("Write while down: %v, want a transient ErrNotConnected", err)
	}
	if _, _, err := c.Query(context.Background(), "SELECT 1", 1); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Query while down: %v, want ErrNotConnected", err)
	}
	up.Store(true)
	deadline := time.Now().Add(5 * time.Second)
	for c.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not ready 5 s after the database came up (%d tries)", tries.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(mem.migrated) != 1 || mem.migrated[0] != numberedTable.Name {
		t.Fatalf("migrated %v on connecting, want [%s]", mem.migrated, numberedTable.Name)
	}
	if err := c.Write(context.Background(), numbered(3)); err != nil || mem.rows != 3 {
		t.Fatalf("Write once connected: %v (rows %d)", err, mem.rows)
	}
	for range 2 {
		if err := c.Close(context.Background()); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if mem.closed != 1 {
		t.Fatalf("the database's sink was closed %d times, want 1", mem.closed)
	}
}

// TestConnectingCloseWhileRetrying: Close ends the background retries
// (no goroutine left, nothing opened afterwards); Close before Start is a
// no-op.
func TestConnectingCloseWhileRetrying(t *testing.T) {
	if err := NewConnecting("x", nil, nil).Close(context.Background()); err != nil {
		t.Fatalf("Close before Start: %v", err)
	}
	var tries atomic.Int32
	c := NewConnecting("testdb", func(context.Context) (Sink, error) {
		tries.Add(1)
		return nil, errors.New("connection refused")
	}, slog.New(slog.DiscardHandler))
	_ = c.Start(context.Background())
	time.Sleep(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatalf("Close while retrying: %v", err)
	}
	n := tries.Load()
	time.Sleep(300 * time.Millisecond)
	if tries.Load() != n {
		t.Fatal("still trying to connect after Close")
	}
}

// TestConnectingShutdownAtTheDeadline: a Shutdown whose deadline passes
// while an open is still running returns at the deadline, and the sink
// that open returns later is closed all the same; a second Shutdown
// waits for that and reports it done.
func TestConnectingShutdownAtTheDeadline(t *testing.T) {
	mem := &memSink{}
	opening := make(chan struct{})
	release := make(chan struct{})
	c := NewConnecting("slowdb", func(context.Context) (Sink, error) {
		close(opening)
		<-release // an open that does not heed its context
		return mem, nil
	}, slog.New(slog.DiscardHandler))
	sctx, scancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer scancel()
	_ = c.Start(sctx) // returns when sctx ends: the first try is still running
	<-opening
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	if err := c.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown during a stuck open: %v, want the deadline", err)
	}
	if d := time.Since(began); d > time.Second {
		t.Fatalf("Shutdown took %v with a 100 ms deadline", d)
	}
	close(release)
	if err := c.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if mem.closed != 1 {
		t.Fatalf("the sink opened after the deadline was closed %d times, want 1", mem.closed)
	}
}
