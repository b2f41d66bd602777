// Package componenttest holds helpers for tests of the service's
// long-lived parts (component.Component).
package componenttest

import (
	"context"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/component"
)

// Part is a component that says why it is not ready (nil when it is), as
// the brokers do.
type Part interface {
	component.Component
	NotReady() error
}

// Start opens a test on c, which its constructor returned with err: it
// fails the test on err, has c shut down when the test ends (t.Cleanup,
// within 20 seconds), starts c within ctx and fails the test unless c is
// ready when Start returns: in tests the server is up, so the part is
// connected by then. Shutdown is idempotent, so a test may still shut c
// down itself, earlier, to check how it stops.
func Start(t testing.TB, ctx context.Context, c Part, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("new %T: %v", c, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = c.Shutdown(ctx)
	})
	if err := c.Start(ctx); err != nil {
		t.Fatalf("start %T: %v", c, err)
	}
	if err := c.NotReady(); err != nil {
		t.Fatalf("%T not ready after Start: %v", c, err)
	}
}

// StopTwice calls stop (a part's Shutdown or Close) twice within ctx and
// fails the test if either call fails: stopping is idempotent by contract.
func StopTwice(t testing.TB, ctx context.Context, stop func(context.Context) error) {
	t.Helper()
	if err := stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := stop(ctx); err != nil {
		t.Fatalf("a second stop: %v", err)
	}
}
