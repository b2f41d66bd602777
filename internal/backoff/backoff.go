package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy is an exponential backoff: attempt n waits a random time in
// [0, min(Max, Initial·2ⁿ)] ("full jitter"), so that many clients retrying
// at once spread out.
type Policy struct {
	Initial time.Duration
	Max     time.Duration
}

// Default suits reconnects and sink outages.
var Default = Policy{Initial: 100 * time.Millisecond, Max: 10 * time.Second}

// Delay returns the wait before retry number attempt (0-based).
func (p Policy) Delay(attempt int) time.Duration {
	if p.Initial <= 0 {
		p.Initial = Default.Initial
	}
	if p.Max < p.Initial {
		p.Max = p.Initial
	}
	d := p.Initial
	for i := 0; i < attempt && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	// Full jitter, but never below a tenth of the step so a retry loop
	// cannot spin.
	floor := d / 10
	return floor + rand.N(d-floor+1)
}

// Sleep waits Delay(attempt) or until ctx ends; it returns ctx.Err() if the
// context ended first.
func (p Policy) Sleep(ctx context.Context, attempt int) error {
	t := time.NewTimer(p.Delay(attempt))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
