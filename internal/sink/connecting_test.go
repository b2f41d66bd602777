package sink

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
	if err := c.Start(context.Background()); err == nil {
		t.Fatal("Start with the database down returned nil, want the first try's error")
	}
	if c.Ready() {
		t.Fatal("ready with the database down")
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
	for !c.Ready() {
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
