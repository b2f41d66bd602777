package auth

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// replayCache remembers accepted signatures until their timestamp could no
// longer pass the skew check. It holds at most size entries: a ring in
// insertion order (timestamps are close to now, so this is close to expiry
// order) plus a map for lookups. When full, the oldest entry is dropped
// early and counted. Safe for concurrent use.
type replayCache struct {
	mu      sync.Mutex
	seen    map[[16]byte]int64 // key → expiry, unix nanoseconds
	ring    []replayEntry
	head, n int
	evicted prometheus.Counter
}

type replayEntry struct {
	key [16]byte
	exp int64
}

func newReplayCache(size int, evicted prometheus.Counter) *replayCache {
	return &replayCache{seen: map[[16]byte]int64{}, ring: make([]replayEntry, size), evicted: evicted}
}

// add records key until exp and reports true, or reports false when key is
// already recorded and has not expired at now.
func (c *replayCache) add(key [16]byte, exp, now int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.seen[key]; ok && e > now {
		return false
	}
	for c.n > 0 && c.ring[c.head].exp <= now {
		c.pop()
	}
	if c.n == len(c.ring) {
		c.pop()
		c.evicted.Inc()
	}
	c.ring[(c.head+c.n)%len(c.ring)] = replayEntry{key: key, exp: exp}
	c.n++
	c.seen[key] = exp
	return true
}

func (c *replayCache) pop() {
	h := c.ring[c.head]
	if c.seen[h.key] == h.exp {
		delete(c.seen, h.key)
	}
	c.head = (c.head + 1) % len(c.ring)
	c.n--
}

func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}
