package consume

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// fakeTransport is an in-memory broker.Transport with one queue and its
// error queue, for testing the policy without a server. It behaves as the
// transports' contract says: prefetch bounds unsettled deliveries, a closed
// or lost subscription gives its deliveries back, a nak with a delay holds
// the message until the delay passed.
type fakeTransport struct {
	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every change
	ready    []fakeMsg
	errorQ   []fakeMsg
	unacked  map[uint64]fakeMsg
	nextTag  uint64
	subs     int // subscriptions opened
	open     int // subscriptions open now
	acks     int // Settle(Ack) calls
	acked    int // messages acked
	naks     []time.Duration
	lostNext bool // the next Fetch of every subscription reports ErrLost

	// republishErr, when set, decides the fate of each copy.
	republishErr func(r broker.Republish) error
	// subscribeErr, when set, fails Subscribe.
	subscribeErr error
	republished  []broker.Republish
}

type fakeMsg struct {
	body    string
	headers map[string]string
}

func newFake() *fakeTransport {
	return &fakeTransport{changed: make(chan struct{}), unacked: map[uint64]fakeMsg{}}
}

// notify wakes fetchers; f.mu is held.
func (f *fakeTransport) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeTransport) publish(bodies ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range bodies {
		f.ready = append(f.ready, fakeMsg{body: b, headers: map[string]string{}})
	}
	f.notify()
}

func (f *fakeTransport) counts() (ready, unacked, errorQ int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ready), len(f.unacked), len(f.errorQ)
}

func (f *fakeTransport) Subscribe(ctx context.Context, q topology.Queue) (broker.Subscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subscribeErr != nil {
		return nil, f.subscribeErr
	}
	f.subs++
	f.open++
	return &fakeSub{f: f, q: q, mine: map[uint64]bool{}}, nil
}

type fakeSub struct {
	f      *fakeTransport
	q      topology.Queue
	mine   map[uint64]bool
	lost   bool
	closed bool
}

func (s *fakeSub) Fetch(ctx context.Context, limit int, wait time.Duration) ([]broker.Delivery, error) {
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		s.f.mu.Lock()
		if s.f.lostNext {
			s.f.lostNext = false
			s.lost = true
		}
		if s.lost {
			s.f.mu.Unlock()
			return nil, fmt.Errorf("fake: %w", broker.ErrLost)
		}
		var out []broker.Delivery
		for len(s.f.ready) > 0 && len(out) < limit && len(s.mine) < s.q.Prefetch {
			m := s.f.ready[0]
			s.f.ready = s.f.ready[1:]
			s.f.nextTag++
			s.f.unacked[s.f.nextTag] = m
			s.mine[s.f.nextTag] = true
			out = append(out, broker.Delivery{Queue: s.q.Name, Exchange: "ex", RoutingKey: "rk",
				Headers: m.headers, Body: []byte(m.body), Tag: s.f.nextTag})
		}
		changed := s.f.changed
		s.f.mu.Unlock()
		if len(out) > 0 {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
			return nil, nil
		case <-changed:
		}
	}
}

func (s *fakeSub) Settle(_ context.Context, ds []broker.Delivery, fate broker.Fate) error {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if s.lost {
		return fmt.Errorf("fake: %w", broker.ErrLost)
	}
	if fate.Verb == broker.VerbInProgress {
		return nil
	}
	if fate.Verb == broker.VerbAck {
		s.f.acks++
	} else {
		s.f.naks = append(s.f.naks, fate.Delay)
	}
	for _, d := range ds {
		m, ok := s.f.unacked[d.Tag]
		if !ok || !s.mine[d.Tag] {
			return fmt.Errorf("fake: settle of unknown tag %d", d.Tag)
		}
		delete(s.f.unacked, d.Tag)
		delete(s.mine, d.Tag)
		if fate.Verb == broker.VerbAck {
			s.f.acked++
		} else {
			s.f.ready = append(s.f.ready, m) // the fake ignores the delay
		}
	}
	s.f.notify()
	return nil
}

func (s *fakeSub) Republish(_ context.Context, rs []broker.Republish) error {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	failed := map[int]error{}
	for k, r := range rs {
		if s.f.republishErr != nil {
			if err := s.f.republishErr(r); err != nil {
				failed[k] = err
				continue
			}
		}
		s.f.republished = append(s.f.republished, r)
		m := fakeMsg{body: string(r.Delivery.Body), headers: r.Headers}
		if r.DeadLetter {
			s.f.errorQ = append(s.f.errorQ, m)
		} else {
			s.f.ready = append(s.f.ready, m)
		}
	}
	s.f.notify()
	if len(failed) > 0 {
		return &broker.PublishError{Failed: failed}
	}
	return nil
}

func (s *fakeSub) Close() error {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.f.open--
	tags := make([]uint64, 0, len(s.mine))
	for tag := range s.mine {
		tags = append(tags, tag)
	}
	slices.Sort(tags)
	for _, tag := range tags {
		s.f.ready = append(s.f.ready, s.f.unacked[tag])
		delete(s.f.unacked, tag)
	}
	s.mine = nil
	s.f.notify()
	return nil
}

// testQueue is a queue with quick settings.
func testQueue(mod func(*topology.Queue)) topology.Queue {
	q := topology.Queue{
		Name: "q", Consumers: 1, Prefetch: 100, MaxRetries: 2,
		Batch: topology.Batch{MaxMessages: 10, MaxBytes: 1 << 20, MaxWait: 20 * time.Millisecond},
	}
	if mod != nil {
		mod(&q)
	}
	return q
}

// quick is a runner config with short waits.
func quick() RunnerConfig {
	return RunnerConfig{
		Hold:        backoffQuick,
		Resubscribe: backoffQuick,
		IdleWait:    20 * time.Millisecond,
	}
}

// newRunner makes a Runner on f and checks, when the test and its
// cleanups are done, that it left no goroutine running.
func newRunner(t *testing.T, f *fakeTransport, cfg RunnerConfig) *Runner {
	t.Helper()
	running := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, running) })
	r, err := NewRunner(f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// running is a Runner.Run in a goroutine.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

func start(t interface {
	Helper()
	Cleanup(func())
	Fatal(...any)
}, r *Runner, q topology.Queue, h broker.BatchHandler) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rn := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { rn.done <- r.Run(ctx, q, h) }()
	t.Cleanup(func() { rn.stop() })
	return rn
}

func (rn *running) stop() error {
	rn.cancel()
	select {
	case err := <-rn.done:
		rn.done <- err
		return err
	case <-time.After(10 * time.Second):
		return fmt.Errorf("Run did not return within 10s of cancel")
	}
}

func waitFor(t interface {
	Helper()
	Fatalf(string, ...any)
}, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
