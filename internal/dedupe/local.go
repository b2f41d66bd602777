package dedupe

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// waitEvery keeps a call's writes below Ristretto's write buffer (32768),
// which drops writes when full.
const waitEvery = 8192

// Local is the in-process window: a Ristretto cache of at most maxItems
// ids, each expiring after its TTL. Claims are serialised by a mutex so a
// check and its mark are one step; the cache's asynchronous writes are
// waited for before the mutex is released, so the next call sees them.
type Local struct {
	window, pending time.Duration

	mu     sync.Mutex
	c      *ristretto.Cache[string, State]
	closed bool
}

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
	return &Local{window: window, pending: pending, c: c}, nil
}

// Claim implements Deduper; it never fails.
func (l *Local) Claim(_ context.Context, ids []string) ([]State, error) {
	out := make([]State, len(ids))
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return out, nil
	}
	var batch map[string]struct{}
	if len(ids) > 1 {
		batch = make(map[string]struct{}, len(ids))
	}
	writes := 0
	for i, id := range ids {
		if _, dup := batch[id]; dup {
			out[i] = InFlight
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
		l.c.SetWithTTL(id, InFlight, 1, l.pending)
		if writes++; writes%waitEvery == 0 {
			l.c.Wait()
		}
	}
	if writes > 0 {
		l.c.Wait()
	}
	return out, nil
}

// Commit implements Deduper; it never fails.
func (l *Local) Commit(_ context.Context, ids []string) error {
	l.set(ids, Done, l.window)
	return nil
}

// set marks ids with s for ttl.
func (l *Local) set(ids []string, s State, ttl time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	for i, id := range ids {
		l.c.SetWithTTL(id, s, 1, ttl)
		if (i+1)%waitEvery == 0 {
			l.c.Wait()
		}
	}
	l.c.Wait()
}

// Forget implements Deduper; it never fails.
func (l *Local) Forget(_ context.Context, ids []string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	for _, id := range ids {
		l.c.Del(id)
	}
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
