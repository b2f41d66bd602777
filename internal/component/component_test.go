package component

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/event-grpc/event-grpc/internal/backoff"
)

// TestGroupOrder: parts start in the order added and stop in reverse;
// Start stops at the first failure, and Shutdown then stops every part,
// the ones never started included, naming the parts that failed.
func TestGroupOrder(t *testing.T) {
	var mu sync.Mutex
	var log []string
	rec := func(s string) { mu.Lock(); log = append(log, s); mu.Unlock() }
	part := func(name string, startErr error) Component {
		return Funcs{
			StartFunc:    func(context.Context) error { rec("start " + name); return startErr },
			ShutdownFunc: func(context.Context) error { rec("stop " + name); return nil },
		}
	}
	var g Group
	g.Add("a", part("a", nil))
	g.Add("b", part("b", errors.New("port taken")))
	g.Add("c", part("c", nil))
	if got := g.Names(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("Names %v", got)
	}
	err := g.Start(context.Background())
	if err == nil || err.Error() != "start b: port taken" {
		t.Fatalf("Start: %v, want the failing part named", err)
	}
	if err := g.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{"start a", "start b", "stop c", "stop b", "stop a"}
	if !slices.Equal(log, want) {
		t.Fatalf("calls %v, want %v", log, want)
	}
}

// TestConnectorRetriesUntilConnected: Start returns at once; Ready says
// why it is not connected until a try succeeds; Shutdown disconnects
// once, also when called twice; no goroutine is left.
func TestConnectorRetriesUntilConnected(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var tries, disconnects atomic.Int32
	down := errors.New("connection refused")
	c := &Connector{Name: "db", Policy: fastRetries,
		Connect: func(context.Context) error {
			if tries.Add(1) < 3 {
				return down
			}
			return nil
		},
		Disconnect: func(context.Context) error { disconnects.Add(1); return nil },
	}
	if err := c.Ready(); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Ready before Start: %v", err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return c.Ready() == nil })
	if tries.Load() != 3 {
		t.Fatalf("%d tries, want 3", tries.Load())
	}
	for range 2 {
		if err := c.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if disconnects.Load() != 1 {
		t.Fatalf("%d disconnects, want 1", disconnects.Load())
	}
	if err := c.Ready(); !errors.Is(err, ErrStopped) {
		t.Fatalf("Ready after Shutdown: %v", err)
	}
}

// TestConnectorShutdownBeforeStart: Shutdown before Start returns at once,
// twice; a Start afterwards does not connect.
func TestConnectorShutdownBeforeStart(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var tries atomic.Int32
	c := &Connector{Name: "db", Connect: func(context.Context) error { tries.Add(1); return nil }}
	for range 2 {
		if err := c.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.Start(context.Background())
	time.Sleep(20 * time.Millisecond)
	if tries.Load() != 0 {
		t.Fatal("connected after Shutdown")
	}
}

// TestConnectorFailFast: with FailFast, Start tries once and returns the
// error; nothing retries in the background.
func TestConnectorFailFast(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var tries atomic.Int32
	c := &Connector{Name: "file", FailFast: true, Policy: fastRetries,
		Connect: func(context.Context) error { tries.Add(1); return errors.New("permission denied") }}
	if err := c.Start(context.Background()); err == nil {
		t.Fatal("Start: nil, want the open's error")
	}
	time.Sleep(50 * time.Millisecond)
	if tries.Load() != 1 {
		t.Fatalf("%d tries, want 1", tries.Load())
	}
	if err := c.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

var fastRetries = backoffPolicy(time.Millisecond, 5*time.Millisecond)

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}

func backoffPolicy(initial, max time.Duration) backoff.Policy {
	return backoff.Policy{Initial: initial, Max: max}
}
