// Package clocktest is a clock for tests that moves only when told to.
package clocktest

import (
	"sync"
	"time"
)

// Clock reads a time that changes only by Add. Its Now method is the
// `now func() time.Time` that the packages under test take. It is safe
// for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New is a Clock reading t.
func New(t time.Time) *Clock { return &Clock{t: t} }

// Now is the time the clock reads.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Add moves the clock on by d.
func (c *Clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
