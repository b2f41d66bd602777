package fault

import (
	"errors"
	"fmt"
	"sort"
)

// Partial is the one partial-failure type of the project: it names the
// items of a batch (rows of a sink write, messages of a delivery batch) that
// failed permanently, by index into the batch, while the others succeeded.
// Every failed item's error says why it failed; the items not named are done
// (committed, acked). A Partial with no Failed entries is never returned.
type Partial struct {
	Failed map[int]error // index into the batch → why
}

// NewPartial returns a *Partial of failed, or nil when failed is empty.
func NewPartial(failed map[int]error) error {
	if len(failed) == 0 {
		return nil
	}
	return &Partial{Failed: failed}
}

func (e *Partial) Error() string {
	idx := e.Indexes()
	if len(idx) == 0 {
		return "no item failed"
	}
	return fmt.Sprintf("%d item(s) failed permanently, first #%d: %v", len(idx), idx[0], e.Failed[idx[0]])
}

// Indexes returns the failed indexes, sorted.
func (e *Partial) Indexes() []int {
	idx := make([]int, 0, len(e.Failed))
	for i := range e.Failed {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	return idx
}

// AsPartial reports whether err is (or wraps) a *Partial, and returns it.
func AsPartial(err error) (*Partial, bool) {
	var p *Partial
	if errors.As(err, &p) {
		return p, true
	}
	return nil, false
}

// FailedOf returns the failed items of err: the Failed map of a *Partial,
// nil for any other error (then the whole batch failed, or none of it).
func FailedOf(err error) map[int]error {
	if p, ok := AsPartial(err); ok {
		return p.Failed
	}
	return nil
}
