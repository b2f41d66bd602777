package health

import (
	"sync"
	"sync/atomic"
)

// Probe reports whether a dependency is usable now; it must be cheap.
type Probe struct {
	Name  string
	Ready func() bool
}

// State is the service's readiness. Safe for concurrent use.
type State struct {
	beat   atomic.Bool
	mu     sync.Mutex
	probes []Probe
	subs   []chan struct{}
}

// New returns a State whose heartbeat is on.
func New() *State {
	s := &State{}
	s.beat.Store(true)
	return s
}

// AddProbe adds a dependency check.
func (s *State) AddProbe(p Probe) {
	s.mu.Lock()
	s.probes = append(s.probes, p)
	s.mu.Unlock()
	s.notify()
}

// SetBeat turns the heartbeat on or off.
func (s *State) SetBeat(on bool) {
	s.beat.Store(on)
	s.notify()
}

// Beat reports the heartbeat flag alone.
func (s *State) Beat() bool { return s.beat.Load() }

// Ready reports whether the service should receive traffic, and if not,
// why.
func (s *State) Ready() (bool, string) {
	if !s.beat.Load() {
		return false, "heartbeat is off"
	}
	s.mu.Lock()
	probes := s.probes
	s.mu.Unlock()
	for _, p := range probes {
		if !p.Ready() {
			return false, p.Name + " is not ready"
		}
	}
	return true, ""
}

// Changed returns a channel that receives (without blocking the sender)
// whenever the heartbeat is set or a probe is added; watchers re-read Ready
// then, and poll for probe changes.
func (s *State) Changed() <-chan struct{} {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	s.subs = append(s.subs, ch)
	s.mu.Unlock()
	return ch
}

func (s *State) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range s.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
