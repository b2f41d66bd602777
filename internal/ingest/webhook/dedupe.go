package webhook

import (
	"container/list"
	"sync"
)

// window remembers the last max ids it was given (least recently seen
// evicted first). Safe for concurrent use. A nil window remembers nothing.
type window struct {
	mu  sync.Mutex
	max int
	ll  *list.List // front = most recent
	m   map[string]*list.Element
}

func newWindow(max int) *window {
	if max <= 0 {
		return nil
	}
	return &window{max: max, ll: list.New(), m: make(map[string]*list.Element, min(max, 1<<16))}
}

// seen reports whether id is in the window, and refreshes it if so.
func (w *window) seen(id string) bool {
	if w == nil || id == "" {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.m[id]
	if ok {
		w.ll.MoveToFront(e)
	}
	return ok
}

// add puts id in the window, evicting the oldest id when full.
func (w *window) add(id string) {
	if w == nil || id == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if e, ok := w.m[id]; ok {
		w.ll.MoveToFront(e)
		return
	}
	w.m[id] = w.ll.PushFront(id)
	for w.ll.Len() > w.max {
		old := w.ll.Back()
		w.ll.Remove(old)
		delete(w.m, old.Value.(string))
	}
}
