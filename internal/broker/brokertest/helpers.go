package brokertest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// fixture is one test's topology with unique names: a topic, a direct and
// a fanout exchange plus the error exchange, and the queues a case adds.
type fixture struct {
	top    *topology.Topology
	suffix string
	topic  string
	direct string
	fanout string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	s := fmt.Sprintf("%08x", rand.Uint32())
	f := &fixture{
		suffix: s,
		topic:  "bt." + s + ".tx",
		direct: "bt." + s + ".dx",
		fanout: "bt." + s + ".fx",
	}
	f.top = &topology.Topology{
		ErrorExchange: "bt." + s + ".error.dx",
		Exchanges: []topology.Exchange{
			{Name: f.topic, Kind: topology.KindTopic},
			{Name: f.direct, Kind: topology.KindDirect},
			{Name: f.fanout, Kind: topology.KindFanout},
			{Name: "bt." + s + ".error.dx", Kind: topology.KindDirect},
		},
	}
	return f
}

// openDirect makes a fixture with one queue, name, bound to the direct
// exchange by "k", and opens a broker on it.
func openDirect(t *testing.T, h Harness, name string) (*fixture, topology.Queue, broker.Broker) {
	t.Helper()
	f := newFixture(t)
	q := f.queue(t, name, []topology.Binding{bind(f.direct, "k")}, nil)
	return f, q, open(t, h, f.top)
}

// QuickQueue is a queue with small, quick settings for tests: one
// consumer, prefetch 100, batches of at most 10 messages waiting 50ms, two
// retries, JSON events into table "t".
func QuickQueue(name string, bindings ...topology.Binding) topology.Queue {
	return topology.Queue{
		Name:       name,
		Bindings:   bindings,
		Consumers:  1,
		Prefetch:   100,
		Batch:      topology.Batch{MaxMessages: 10, MaxBytes: 1 << 20, MaxWait: 50 * time.Millisecond},
		MaxRetries: 2,
		Handler:    topology.HandlerJSON,
		Tables:     []string{"t"},
	}
}

// queue adds a queue with small, quick settings; mod adjusts it.
func (f *fixture) queue(t *testing.T, name string, bindings []topology.Binding, mod func(*topology.Queue)) topology.Queue {
	t.Helper()
	q := QuickQueue("bt_"+f.suffix+"_"+name, bindings...)
	if mod != nil {
		mod(&q)
	}
	f.top.Queues = append(f.top.Queues, q)
	if err := f.top.Validate(); err != nil {
		t.Fatalf("brokertest: invalid topology: %v", err)
	}
	return q
}

func bind(exchange, key string) topology.Binding {
	return topology.Binding{Exchange: exchange, Key: key}
}

// open makes a broker with h.New and closes it at the end of the test.
func open(t *testing.T, h Harness, top *topology.Topology) broker.Broker {
	t.Helper()
	b := h.New(t, top)
	if b == nil {
		t.Fatal("brokertest: Harness.New returned nil")
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// publish publishes and fails the test unless every message was confirmed.
func publish(t *testing.T, h Harness, b broker.Broker, exchange string, msgs ...broker.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout())
	defer cancel()
	if err := b.Publish(ctx, exchange, msgs); err != nil {
		t.Fatalf("Publish to %s: %v", exchange, err)
	}
}

func msg(key, body string) broker.Message {
	return broker.Message{RoutingKey: key, Body: []byte(body)}
}

// running is a Consume call in a goroutine.
type running struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// consume runs the consume stage's runner on b until stop (or the end of
// the test): the suite proves each transport under the one delivery policy.
func run(t *testing.T, h Harness, b broker.Broker, q topology.Queue, hd broker.BatchHandler) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- h.Consume(ctx, b, q, hd) }()
	t.Cleanup(func() { r.stop(t, h) })
	return r
}

// stop cancels the consumer and waits for Consume to return; it fails the
// test if Consume does not return in time or returns an error.
func (r *running) stop(t *testing.T, h Harness) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case r.err = <-r.done:
			if r.err != nil {
				t.Errorf("Consume returned %v after its context ended; want nil", r.err)
			}
		case <-time.After(h.timeout()):
			r.err = fmt.Errorf("did not return")
			t.Errorf("Consume did not return within %v after its context ended", h.timeout())
		}
	})
}

// waitFor polls cond until it holds or the harness timeout passes.
func waitFor(t *testing.T, h Harness, what string, cond func() bool) {
	t.Helper()
	Eventually(t, h.timeout(), what, cond)
}

// Eventually polls cond until it holds, failing the test (with what it
// waited for) once timeout has passed.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// recorder keeps every delivery and batch a handler saw.
type recorder struct {
	mu      sync.Mutex
	batches [][]broker.Delivery
	ok      map[string]int // body → successful handlings
}

func newRecorder() *recorder { return &recorder{ok: map[string]int{}} }

// add records a batch: the deliveries not named in failed succeeded,
// unless the whole call failed transiently.
func (r *recorder) add(batch []broker.Delivery, failed map[int]error, transient bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, append([]broker.Delivery(nil), batch...))
	if transient {
		return
	}
	for i, d := range batch {
		if _, bad := failed[i]; !bad {
			r.ok[string(d.Body)]++
		}
	}
}

func (r *recorder) okCount(body string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ok[body]
}

func (r *recorder) distinctOK() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ok)
}

// all returns every delivery seen, in order.
func (r *recorder) all() []broker.Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []broker.Delivery
	for _, b := range r.batches {
		out = append(out, b...)
	}
	return out
}

func (r *recorder) calls() [][]broker.Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]broker.Delivery(nil), r.batches...)
}

// okBodies returns the bodies handled successfully, sorted, with repeats.
func (r *recorder) okBodies() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for b, n := range r.ok {
		for range n {
			out = append(out, b)
		}
	}
	sort.Strings(out)
	return out
}

func bodies(ds []broker.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = string(d.Body)
	}
	sort.Strings(out)
	return out
}

func join(ss []string) string { return "[" + strings.Join(ss, " ") + "]" }

// deadLetters returns b's DeadLetters capability or fails the test.
func deadLetters(t *testing.T, b broker.Broker) broker.DeadLetters {
	t.Helper()
	dl, ok := b.(broker.DeadLetters)
	if !ok {
		t.Fatalf("broker %T does not implement broker.DeadLetters", b)
	}
	return dl
}

// peekCount returns the message count of queue, failing the test on error.
func peekCount(t *testing.T, h Harness, dl broker.DeadLetters, queue string) (int, []broker.Delivery) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout())
	defer cancel()
	n, sample, err := dl.Peek(ctx, queue, 10)
	if err != nil {
		t.Fatalf("Peek %s: %v", queue, err)
	}
	return n, sample
}

// publishUntilAccepted publishes m to exchange until the broker accepts
// it, failing the test (the publish after what still fails) after h's
// timeout; wait runs between attempts.
func publishUntilAccepted(t *testing.T, h Harness, b broker.Broker, exchange string, m broker.Message, what string, wait func()) {
	t.Helper()
	deadline := time.Now().Add(h.timeout())
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := b.Publish(ctx, exchange, []broker.Message{m})
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Publish after %s still fails: %v", what, err)
		}
		wait()
	}
}

// RoundTrip publishes one message to exchange under key, fetches it from
// q (bound to that key) and acks it, failing the test unless exactly that
// message comes back: the check that a broker speaks to its server at all,
// for tests of how it connects (TLS, clusters).
func RoundTrip(t testing.TB, ctx context.Context, b broker.Broker, exchange, key string, q topology.Queue) {
	t.Helper()
	body := fmt.Sprintf(`{"round":"trip","key":%q}`, key)
	if err := b.Publish(ctx, exchange, []broker.Message{{RoutingKey: key, Body: []byte(body)}}); err != nil {
		t.Fatalf("publish: %v", err)
	}
	sub, err := b.Subscribe(ctx, q)
	if err != nil {
		t.Fatalf("subscribe to %s: %v", q.Name, err)
	}
	defer sub.Close()
	ds, err := sub.Fetch(ctx, 10, 5*time.Second)
	if err != nil || len(ds) != 1 || string(ds[0].Body) != body {
		t.Fatalf("fetch from %s: %d messages %v, err %v; want the one published", q.Name, len(ds), ds, err)
	}
	if err := sub.Settle(ctx, ds, broker.Fate{Verb: broker.VerbAck}); err != nil {
		t.Fatalf("ack: %v", err)
	}
}
