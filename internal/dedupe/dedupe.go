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
	// Conflict: published within the window with a different content
	// digest: the id is already used for another event. Reject it for
	// good; it is not claimed.
	Conflict
)

func (s State) String() string {
	switch s {
	case New:
		return "new"
	case Done:
		return "done"
	case InFlight:
		return "in_flight"
	case Conflict:
		return "conflict"
	}
	return "unknown"
}

// Sum is a digest of an event's content, stored with its id so that the
// same id with a different body is told from a retry. The zero Sum means
// "unknown" and matches every Sum.
type Sum [16]byte

// sumAt is sums[i], or the zero Sum when sums is shorter.
func sumAt(sums []Sum, i int) Sum {
	if i < len(sums) {
		return sums[i]
	}
	return Sum{}
}

// same reports whether two digests may be of the same event.
func same(a, b Sum) bool { return a == Sum{} || b == Sum{} || a == b }

// Deduper remembers event ids within a window. Implementations are safe
// for concurrent use.
type Deduper interface {
	// Claim reports the state of each id (same order and length as ids)
	// and claims the New ones. sums[i] is the content digest of ids[i]
	// (nil or short: unknown); an id Done under a different digest is a
	// Conflict. It blocks for at most the store's timeout. On error
	// nothing in the result is usable; some ids may be claimed and will
	// expire after the pending TTL.
	Claim(ctx context.Context, ids []string, sums []Sum) ([]State, error)
	// Commit marks claimed ids as published with their digests (as in
	// Claim): Done for the window.
	Commit(ctx context.Context, ids []string, sums []Sum) error
	// Forget releases claimed ids whose publish failed, so the next
	// attempt is New.
	Forget(ctx context.Context, ids []string) error
}

// Store is a Deduper holding connections or goroutines, and a part of
// the service (component.Component).
type Store interface {
	Deduper
	// Start makes the first contact with the shared window (Redis); a
	// server that is down is not an error. Calls before Start work (Redis
	// is dialled by the first call that needs it).
	Start(ctx context.Context) error
	// Shutdown is Close; ctx is not needed.
	Shutdown(ctx context.Context) error
	// Close releases the store; safe to call twice. Calls after Close
	// answer New for every id (Local) or fail (Redis).
	Close() error
}
