package dedupe

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// Local is the in-process window. Ids being published (InFlight) and ids
// committed in the last moment live in a small map, checked and changed
// under one mutex, so a claim is atomic; committed ids also go to a
// Ristretto cache of at most maxItems ids, each expiring after the window.
// Ristretto applies writes asynchronously: the map covers the moment
// before a write lands, so no call waits for the cache.
type Local struct {
	window, pending time.Duration
	grace           time.Duration // how long a Done stays in the map

	mu       sync.Mutex
	recent   map[string]recentEntry
	sweepAt  int
	c        *ristretto.Cache[string, State]
	closed   bool
	overflow int64 // claims not tracked because the map was full
}

type recentEntry struct {
	state State
	until time.Time
}

// maxRecent bounds the map: in-flight ids are at most the events of the
// requests being published; past it, claims are answered New untracked
// (a duplicate publish at worst, which storage dedupes).
const maxRecent = 1 << 20

// NewLocal builds a Local holding at most maxItems ids; pending is the TTL
// of a claim, window the TTL of a committed id. It starts Ristretto's
// goroutines; Close stops them.
func NewLocal(maxItems int64, window, pending time.Duration) (*Local, error) {
	if maxItems <= 0 || window <= 0 || pending <= 0 {
		return nil, fmt.Errorf("dedupe: local needs positive max items, window and pending TTL")
	}
	c, err := ristretto.NewCache(&ristretto.Config[string, State]{
		NumCounters:        4 * maxItems, // admission counters; ~2 bytes each
		MaxCost:            maxItems,     // every id costs 1
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, fmt.Errorf("dedupe: local cache: %w", err)
	}
	return &Local{window: window, pending: pending, grace: min(time.Second, window), recent: map[string]recentEntry{}, sweepAt: 4096, c: c}, nil
}

// Claim implements Deduper; it never fails.
func (l *Local) Claim(_ context.Context, ids []string) ([]State, error) {
	out := make([]State, len(ids))
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return out, nil
	}
	l.sweep(now)
	var batch map[string]struct{}
	if len(ids) > 1 {
		batch = make(map[string]struct{}, len(ids))
	}
	for i, id := range ids {
		if _, dup := batch[id]; dup {
			out[i] = InFlight
			continue
		}
		if e, ok := l.recent[id]; ok && now.Before(e.until) {
			out[i] = e.state
			continue
		}
		if s, ok := l.c.Get(id); ok {
			out[i] = s
			continue
		}
		out[i] = New
		if batch != nil {
			batch[id] = struct{}{}
		}
		if len(l.recent) < maxRecent {
			l.recent[id] = recentEntry{InFlight, now.Add(l.pending)}
		} else {
			l.overflow++
		}
	}
	return out, nil
}

// sweep drops expired map entries once the map has doubled since the last
// sweep, so the cost stays proportional to the work done.
func (l *Local) sweep(now time.Time) {
	if len(l.recent) < l.sweepAt {
		return
	}
	for id, e := range l.recent {
		if !now.Before(e.until) {
			delete(l.recent, id)
		}
	}
	l.sweepAt = max(4096, 2*len(l.recent))
}

// Commit implements Deduper; it never fails.
func (l *Local) Commit(_ context.Context, ids []string) error {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	for _, id := range ids {
		l.recent[id] = recentEntry{Done, now.Add(l.grace)}
		l.c.SetWithTTL(id, Done, 1, l.window)
	}
	return nil
}

// Forget implements Deduper; it never fails.
func (l *Local) Forget(_ context.Context, ids []string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	for _, id := range ids {
		delete(l.recent, id)
		l.c.Del(id)
	}
	// Forget is rare (a failed publish): wait until the cache has applied
	// it, so an earlier Commit still in its write buffer cannot win.
	l.c.Wait()
	return nil
}

// Close stops the cache; safe to call twice.
func (l *Local) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		l.c.Close()
	}
	return nil
}
