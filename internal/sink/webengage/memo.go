package webengage

import (
	"container/list"
	"sync"
	"time"
)

// memo remembers outcomes by key — nil for a delivery sent, the error for
// one refused permanently — for a while: at most max keys, each for ttl,
// least recently used evicted first. Safe for concurrent use.
type memo struct {
	mu  sync.Mutex
	max int
	ttl time.Duration
	now func() time.Time
	ll  *list.List // front = most recent
	m   map[string]*list.Element
}

type memoEntry struct {
	key string
	at  time.Time
	err error
}

func newMemo(max int, ttl time.Duration) *memo {
	return &memo{max: max, ttl: ttl, now: time.Now, ll: list.New(), m: map[string]*list.Element{}}
}

// get returns the outcome remembered for key.
func (c *memo) get(key string) (error, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok {
		return nil, false
	}
	ent := e.Value.(*memoEntry)
	if c.now().Sub(ent.at) > c.ttl {
		c.ll.Remove(e)
		delete(c.m, key)
		return nil, false
	}
	c.ll.MoveToFront(e)
	return ent.err, true
}

// put remembers err (nil: sent) for key.
func (c *memo) put(key string, err error) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[key]; ok {
		ent := e.Value.(*memoEntry)
		ent.at, ent.err = c.now(), err
		c.ll.MoveToFront(e)
		return
	}
	c.m[key] = c.ll.PushFront(&memoEntry{key: key, at: c.now(), err: err})
	for c.ll.Len() > c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.m, old.Value.(*memoEntry).key)
	}
}

func (c *memo) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
