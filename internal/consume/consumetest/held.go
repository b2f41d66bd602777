// Package consumetest holds test helpers for the tests of the delivery
// policy (package consume) and of the transports it runs on.
package consumetest

import (
	"context"
	"sync"
	"testing"

	"github.com/event-grpc/event-grpc/internal/broker"
)

// Held is a batch handler for the tests of a hold: it fails its first
// calls with a transient error and then succeeds, records the bodies of
// every call, and reports (t.Errorf) a delivery with a retry count, since
// a batch held after a transient failure spends no retry.
type Held struct {
	t     testing.TB
	fails int
	err   error

	mu    sync.Mutex
	calls [][]string
}

// NewHeld returns a Held whose first fails calls return err.
func NewHeld(t testing.TB, fails int, err error) *Held {
	return &Held{t: t, fails: fails, err: err}
}

// Handle is the broker.BatchHandler.
func (h *Held) Handle(_ context.Context, batch []broker.Delivery) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	call := make([]string, len(batch))
	for i, d := range batch {
		call[i] = string(d.Body)
		if d.RetryCount != 0 {
			h.t.Errorf("%s: retry count %d during a hold, want 0", d.Body, d.RetryCount)
		}
	}
	h.calls = append(h.calls, call)
	if len(h.calls) <= h.fails {
		return h.err
	}
	return nil
}

// Calls returns the bodies of each call so far, in the order delivered.
func (h *Held) Calls() [][]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]string(nil), h.calls...)
}

// Succeeded says whether a call succeeded.
func (h *Held) Succeeded() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.calls) > h.fails
}
