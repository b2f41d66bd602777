package dedupe

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Local is the in-process window. Ids being published (InFlight) live in a
// map of claims; committed ids live in generations: each generation holds
// the ids committed during one slice of the window (window/(gens-1)), and
// when the newest generation is older than a slice, or holds its share of
// maxItems, the oldest generation is dropped whole. Event ids are written
// once, so a set per generation does: no admission policy, no per-item
// expiry, no background goroutine — a claim is a few map lookups under one
// mutex, and a commit one insert. An id is remembered for at least the
// window (less only when the item bound rotates generations early) and at
// most a slice longer.
type Local struct {
	window, pending time.Duration
	slice           time.Duration // span of one generation
	perGen          int           // ids one generation may hold

	mu       sync.Mutex
	recent   map[string]claimed // claimed ids → when the claim expires, digest
	sweepAt  int
	gens     [localGens]map[string]Sum // gens[cur] is the newest
	cur      int
	genStart time.Time
	closed   bool
	overflow int64 // claims not tracked because the map was full
}

// claimed is an id in flight: until when, and the digest it was claimed with.
type claimed struct {
	until time.Time
	sum   Sum
}

// localGens is the number of generations: the window is cut into
// localGens-1 slices.
const localGens = 5

// maxRecent bounds the map of claims: in-flight ids are at most the events
// of the requests being published; past it, claims are answered New
// untracked (a duplicate publish at worst, which storage dedupes).
const maxRecent = 1 << 20

// NewLocal builds a Local holding at most maxItems committed ids (about
// 100 bytes each); pending is the TTL of a claim, window how long a
// committed id is remembered. It starts no goroutine.
func NewLocal(maxItems int64, window, pending time.Duration) (*Local, error) {
	if maxItems <= 0 || window <= 0 || pending <= 0 {
		return nil, fmt.Errorf("dedupe: local needs positive max items, window and pending TTL")
	}
	l := &Local{
		window:   window,
		pending:  pending,
		slice:    window / (localGens - 1),
		perGen:   max(1, int(maxItems/localGens)),
		recent:   map[string]claimed{},
		sweepAt:  4096,
		genStart: time.Now(),
	}
	for i := range l.gens {
		l.gens[i] = map[string]Sum{}
	}
	return l, nil
}

// rotate starts a new generation for every slice elapsed since the newest
// began (dropping the oldest each time), or one when the newest is full.
// Called under mu.
func (l *Local) rotate(now time.Time) {
	n := int64(now.Sub(l.genStart) / l.slice)
	if n > 0 {
		l.genStart = l.genStart.Add(time.Duration(n) * l.slice)
	} else if len(l.gens[l.cur]) >= l.perGen {
		n = 1
	}
	for range min(n, localGens) {
		l.cur = (l.cur + 1) % localGens
		clear(l.gens[l.cur])
	}
}

// committed reports whether id was committed, and with which digest.
func (l *Local) committed(id string) (Sum, bool) {
	for i := range l.gens {
		if s, ok := l.gens[i][id]; ok {
			return s, true
		}
	}
	return Sum{}, false
}

// Claim implements Deduper; it never fails.
func (l *Local) Claim(_ context.Context, ids []string, sums []Sum) ([]State, error) {
	out := make([]State, len(ids))
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return out, nil
	}
	l.sweep(now)
	l.rotate(now)
	for i, id := range ids {
		sum := sumAt(sums, i)
		if c, ok := l.recent[id]; ok && now.Before(c.until) {
			out[i] = InFlight // claimed by another request, or earlier in this one
			continue
		}
		if s, ok := l.committed(id); ok {
			out[i] = Done
			if !same(s, sum) {
				out[i] = Conflict
			}
			continue
		}
		out[i] = New
		if len(l.recent) < maxRecent {
			l.recent[id] = claimed{until: now.Add(l.pending), sum: sum}
		} else {
			l.overflow++
		}
	}
	return out, nil
}

// sweep drops expired claims once the map has doubled since the last
// sweep, so the cost stays proportional to the work done.
func (l *Local) sweep(now time.Time) {
	if len(l.recent) < l.sweepAt {
		return
	}
	for id, c := range l.recent {
		if !now.Before(c.until) {
			delete(l.recent, id)
		}
	}
	l.sweepAt = max(4096, 2*len(l.recent))
}

// Commit implements Deduper; it never fails.
func (l *Local) Commit(_ context.Context, ids []string, sums []Sum) error {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.rotate(now)
	for i, id := range ids {
		delete(l.recent, id)
		if len(l.gens[l.cur]) >= l.perGen {
			l.cur = (l.cur + 1) % localGens
			clear(l.gens[l.cur])
		}
		l.gens[l.cur][id] = sumAt(sums, i)
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
		for i := range l.gens {
			delete(l.gens[i], id)
		}
	}
	return nil
}

// held reports how many committed ids are remembered.
func (l *Local) held() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for i := range l.gens {
		n += len(l.gens[i])
	}
	return n
}

// Close drops the window; safe to call twice.
func (l *Local) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		l.recent = nil
		for i := range l.gens {
			l.gens[i] = nil
		}
	}
	return nil
}
