package dedupe

import "context"

// State is what Claim knows of an id.
type State uint8

// States of an id.
const (
	// New: not seen within the window; now claimed by the caller, who must
	// Commit or Forget it.
	New State = iota
	// Done: published within the window; acknowledge without publishing.
	Done
	// InFlight: claimed by a request that has not finished publishing;
	// reject it with a retry hint.
	InFlight
)

func (s State) String() string {
	switch s {
	case New:
		return "new"
	case Done:
		return "done"
	case InFlight:
		return "in_flight"
	}
	return "unknown"
}

// Deduper remembers event ids within a window. Implementations are safe
// for concurrent use.
type Deduper interface {
	// Claim reports the state of each id (same order and length as ids)
	// and claims the New ones. It blocks for at most the store's timeout.
	// On error nothing in the result is usable; some ids may be claimed
	// and will expire after the pending TTL.
	Claim(ctx context.Context, ids []string) ([]State, error)
	// Commit marks claimed ids as published: Done for the window.
	Commit(ctx context.Context, ids []string) error
	// Forget releases claimed ids whose publish failed, so the next
	// attempt is New.
	Forget(ctx context.Context, ids []string) error
}

// Store is a Deduper holding connections or goroutines.
type Store interface {
	Deduper
	// Close releases the store; safe to call twice. Calls after Close
	// answer New for every id (Local) or fail (Redis).
	Close() error
}
