package telemetry

import (
	"sync"
	"time"
)

// Every lets a repeating warning through at most once per interval and
// counts the ones held back, so that a failure met by every request is
// logged now and then while a metric counts each one. The zero interval
// lets every one through. Safe for concurrent use.
type Every struct {
	interval time.Duration

	mu   sync.Mutex
	last time.Time
	held int
}

// NewEvery lets one warning through per interval.
func NewEvery(interval time.Duration) *Every { return &Every{interval: interval} }

// Allow reports whether the warning at now is to be logged and, when it
// is, how many were held back since the last one logged.
func (e *Every) Allow(now time.Time) (held int, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.last.IsZero() && now.Sub(e.last) < e.interval {
		e.held++
		return 0, false
	}
	held, e.held, e.last = e.held, 0, now
	return held, true
}
