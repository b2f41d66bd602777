package brokertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/topology"
)

var cases = []testCase{
	{"PublishConsume", testPublishConsume},
	{"Routing", testRouting},
	{"CompetingConsumers", testCompetingConsumers},
	{"RedeliveryAfterConsumerStops", testRedelivery},
	{"TransientErrorHoldsBatch", testTransient},
	{"PermanentFailureDeadLetters", testDeadLetter},
	{"PartialBatchFailure", testPartialFailure},
	{"Unroutable", testUnroutable},
	{"Restart", testRestart},
	{"BoundedPrefetch", testBoundedPrefetch},
	{"Close", testClose},
	{"QueueDeletedUnderConsumer", testQueueDeleted},
	{"ReplayBounded", testReplayBounded},
	{"PackedToQueues", testPackedToQueues},
}

// okHandler records and acks everything.
func okHandler(rec *recorder) broker.BatchHandler {
	return func(_ context.Context, batch []broker.Delivery) error {
		rec.add(batch, nil, false)
		return nil
	}
}

// A confirmed publish is consumed with the same body, headers, content
// type, exchange and routing key.
func testPublishConsume(t *testing.T, h Harness) {
	f := newFixture(t)
	q := f.queue(t, "main", []topology.Binding{bind(f.topic, "a.*")}, nil)
	b := open(t, h, f.top)

	var msgs []broker.Message
	for i := range 3 {
		msgs = append(msgs, broker.Message{
			ID:          fmt.Sprintf("id-%s-%d", f.suffix, i),
			RoutingKey:  fmt.Sprintf("a.k%d", i),
			ContentType: "application/json",
			Headers:     map[string]string{"h-index": strconv.Itoa(i), broker.HeaderInsertTime: "1700000000000"},
			Body:        []byte(fmt.Sprintf(`{"n":%d}`, i)),
		})
	}
	publish(t, h, b, f.topic, msgs...)
	rec := newRecorder()
	run(t, h, b, q, okHandler(rec))
	waitFor(t, h, "3 messages", func() bool { return rec.distinctOK() == 3 })

	got := rec.all()
	if len(got) != 3 {
		t.Fatalf("got %d deliveries, want 3: %v", len(got), join(bodies(got)))
	}
	for _, d := range got {
		var want *broker.Message
		for i := range msgs {
			if string(msgs[i].Body) == string(d.Body) {
				want = &msgs[i]
			}
		}
		if want == nil {
			t.Errorf("unexpected body %q", d.Body)
			continue
		}
		if d.Queue != q.Name || d.Exchange != f.topic || d.RoutingKey != want.RoutingKey {
			t.Errorf("%s: queue/exchange/key = %q/%q/%q, want %q/%q/%q",
				d.Body, d.Queue, d.Exchange, d.RoutingKey, q.Name, f.topic, want.RoutingKey)
		}
		if d.ContentType != want.ContentType {
			t.Errorf("%s: content type %q, want %q", d.Body, d.ContentType, want.ContentType)
		}
		for k, v := range want.Headers {
			if d.Headers[k] != v {
				t.Errorf("%s: header %s = %q, want %q (headers %v)", d.Body, k, d.Headers[k], v, d.Headers)
			}
		}
		if d.RetryCount != 0 || d.Redelivered {
			t.Errorf("%s: retry count %d, redelivered %v; want 0, false", d.Body, d.RetryCount, d.Redelivered)
		}
	}
}

// Topic bindings with * and #, direct and fanout exchanges route as
// RabbitMQ does. Each queue finally gets an "end" message; since one
// consumer gets a queue's messages in order, once it has arrived every
// earlier message has too, and the sets can be compared exactly.
func testRouting(t *testing.T, h Harness) {
	f := newFixture(t)
	star := f.queue(t, "star", []topology.Binding{bind(f.topic, "a.*")}, nil)
	hash := f.queue(t, "hash", []topology.Binding{bind(f.topic, "a.#")}, nil)
	mid := f.queue(t, "mid", []topology.Binding{bind(f.topic, "*.mid.#")}, nil)
	exact := f.queue(t, "exact", []topology.Binding{bind(f.direct, "k1"), bind(f.topic, "only.this")}, nil)
	fan := f.queue(t, "fan", []topology.Binding{bind(f.fanout, "ignored")}, nil)
	b := open(t, h, f.top)

	publish(t, h, b, f.topic,
		msg("a.b", "t-a.b"),
		msg("a.b.c", "t-a.b.c"),
		msg("a", "t-a"),
		msg("x.mid", "t-x.mid"),
		msg("x.mid.y.z", "t-x.mid.y.z"),
		msg("only.this", "t-only.this"),
	)
	publish(t, h, b, f.direct, msg("k1", "d-k1"))
	publish(t, h, b, f.fanout, msg("anything", "f-anything"), msg("", "f-empty"))
	// The end markers.
	publish(t, h, b, f.topic, msg("a.end", "end"), msg("x.mid", "end"))
	publish(t, h, b, f.direct, msg("k1", "end"))
	publish(t, h, b, f.fanout, msg("z", "end"))

	want := map[string][]string{
		star.Name:  {"end", "t-a.b"},
		hash.Name:  {"end", "t-a", "t-a.b", "t-a.b.c"},
		mid.Name:   {"end", "t-x.mid", "t-x.mid.y.z"},
		exact.Name: {"d-k1", "end", "t-only.this"},
		fan.Name:   {"end", "f-anything", "f-empty"},
	}
	recs := map[string]*recorder{}
	for _, q := range []topology.Queue{star, hash, mid, exact, fan} {
		recs[q.Name] = newRecorder()
		run(t, h, b, q, okHandler(recs[q.Name]))
	}
	for _, q := range []topology.Queue{star, hash, mid, exact, fan} {
		rec := recs[q.Name]
		waitFor(t, h, q.Name+" to get its end marker", func() bool { return rec.okCount("end") > 0 })
		got := bodies(rec.all())
		if !slices.Equal(got, want[q.Name]) {
			t.Errorf("queue %s got %s, want %s", q.Name, join(got), join(want[q.Name]))
		}
	}
}

// Two consumers of one queue share its messages: each message is handled
// once, and both handle some.
func testCompetingConsumers(t *testing.T, h Harness) {
	f := newFixture(t)
	q := f.queue(t, "shared", []topology.Binding{bind(f.direct, "k")}, func(q *topology.Queue) {
		q.Prefetch, q.Batch.MaxMessages = 10, 5
	})
	b := open(t, h, f.top)

	var mu sync.Mutex
	by := map[string]string{} // body → consumer
	dup := 0
	handler := func(name string) broker.BatchHandler {
		return func(_ context.Context, batch []broker.Delivery) error {
			mu.Lock()
			for _, d := range batch {
				if _, seen := by[string(d.Body)]; seen {
					dup++
				}
				by[string(d.Body)] = name
			}
			mu.Unlock()
			time.Sleep(10 * time.Millisecond) // a slow sink lets the other consumer take a turn
			return nil
		}
	}
	run(t, h, b, q, handler("a"))
	run(t, h, b, q, handler("b"))

	const n = 200
	msgs := make([]broker.Message, n)
	for i := range msgs {
		msgs[i] = msg("k", fmt.Sprintf("m%03d", i))
	}
	publish(t, h, b, f.direct, msgs...)
	waitFor(t, h, "200 messages", func() bool { mu.Lock(); defer mu.Unlock(); return len(by) == n })

	mu.Lock()
	defer mu.Unlock()
	count := map[string]int{}
	for _, c := range by {
		count[c]++
	}
	if dup != 0 {
		t.Errorf("%d message(s) were handled twice", dup)
	}
	if count["a"] == 0 || count["b"] == 0 {
		t.Errorf("consumers handled a=%d b=%d messages; want both > 0", count["a"], count["b"])
	}
}

// A message whose consumer stops before it acks is delivered to the next
// consumer, without a retry being spent.
func testRedelivery(t *testing.T, h Harness) {
	f, q, b := openDirect(t, h, "redeliver")
	publish(t, h, b, f.direct, msg("k", "m1"))

	got := make(chan struct{})
	var once sync.Once
	stopped := make(chan struct{})
	first := run(t, h, b, q, func(_ context.Context, batch []broker.Delivery) error {
		once.Do(func() { close(got) })
		<-stopped // the consumer is being stopped mid-handler
		return errors.New("sink went away while the consumer stopped")
	})
	select {
	case <-got:
	case <-time.After(h.timeout()):
		t.Fatal("first consumer got no message")
	}
	// Stop the consumer while its handler runs; the handler then fails,
	// as one whose sink connection was cut would.
	first.cancel()
	close(stopped)
	first.stop(t, h)

	rec := newRecorder()
	run(t, h, b, q, okHandler(rec))
	waitFor(t, h, "the redelivery", func() bool { return rec.okCount("m1") > 0 })
	d := rec.all()[0]
	if d.RetryCount != 0 {
		t.Errorf("redelivered message has retry count %d, want 0", d.RetryCount)
	}
	if h.ReportsRedelivered && !d.Redelivered {
		t.Error("redelivered message has Redelivered false")
	}
}

// A transient handler error holds the batch: the same messages are handed
// again, with no retry count spent, and each is acked once it succeeds.
func testTransient(t *testing.T, h Harness) {
	f := newFixture(t)
	q := f.queue(t, "transient", []topology.Binding{bind(f.direct, "k")}, func(q *topology.Queue) {
		q.Batch.MaxWait = 200 * time.Millisecond
	})
	b := open(t, h, f.top)
	publish(t, h, b, f.direct, msg("k", "m1"), msg("k", "m2"), msg("k", "m3"))

	rec := newRecorder()
	var calls atomic.Int32
	run(t, h, b, q, func(_ context.Context, batch []broker.Delivery) error {
		if calls.Add(1) <= 2 {
			rec.add(batch, nil, true)
			return fault.Transient(errors.New("sink down"))
		}
		rec.add(batch, nil, false)
		return nil
	})
	waitFor(t, h, "m1..m3 to succeed", func() bool { return rec.distinctOK() >= 3 })
	publish(t, h, b, f.direct, msg("k", "end"))
	waitFor(t, h, "the end marker", func() bool { return rec.okCount("end") > 0 })

	cs := rec.calls()
	if len(cs) < 3 {
		t.Fatalf("handler called %d times, want at least 3", len(cs))
	}
	for i := 1; i < 3; i++ {
		if !slices.Equal(bodies(cs[i]), bodies(cs[0])) {
			t.Errorf("call %d got %s, want the held batch %s", i+1, join(bodies(cs[i])), join(bodies(cs[0])))
		}
	}
	for _, d := range rec.all() {
		if d.RetryCount != 0 {
			t.Errorf("%s: retry count %d after transient failures, want 0", d.Body, d.RetryCount)
		}
	}
	if got := rec.okBodies(); !slices.Equal(got, []string{"end", "m1", "m2", "m3"}) {
		t.Errorf("succeeded %s, want each of end m1 m2 m3 once", join(got))
	}
}

// A message that fails permanently is retried MaxRetries times with a
// rising x-retry-count, then dead-lettered with the reason and its origin;
// Peek shows it without removing it, and Replay brings it back.
func testDeadLetter(t *testing.T, h Harness) {
	f := newFixture(t)
	q := f.queue(t, "dlq", []topology.Binding{bind(f.topic, "k.*")}, func(q *topology.Queue) { q.MaxRetries = 2 })
	b := open(t, h, f.top)
	dl := deadLetters(t, b)

	var mu sync.Mutex
	failing := true
	var badCounts []int // RetryCount of each failing delivery of "bad"
	var replayed []broker.Delivery
	rec := newRecorder()
	run(t, h, b, q, failingBad(&mu, rec, func(i int, d broker.Delivery) error {
		if !failing {
			replayed = append(replayed, d)
			return nil
		}
		badCounts = append(badCounts, d.RetryCount)
		return fault.Permanentf("bad row in message %d", i)
	}))
	publish(t, h, b, f.topic,
		broker.Message{RoutingKey: "k.bad", Headers: map[string]string{"h": "v"}, Body: []byte("bad")},
		msg("k.good", "good"))

	waitFor(t, h, "the dead letter", func() bool { n, _ := peekCount(t, h, dl, q.ErrorQueue()); return n == 1 })
	waitFor(t, h, "the good message", func() bool { return rec.okCount("good") == 1 })
	mu.Lock()
	gotCounts := slices.Clone(badCounts)
	mu.Unlock()
	if want := []int{0, 1, 2}; !slices.Equal(gotCounts, want) {
		t.Errorf("bad message handed with retry counts %v, want %v (MaxRetries+1 calls)", gotCounts, want)
	}

	n, sample := peekCount(t, h, dl, q.ErrorQueue())
	if n != 1 || len(sample) != 1 {
		t.Fatalf("Peek %s = %d, %d sample(s); want 1, 1", q.ErrorQueue(), n, len(sample))
	}
	d := sample[0]
	checks := map[string]string{
		broker.HeaderRetryCount:         "2",
		broker.HeaderOriginalExchange:   f.topic,
		broker.HeaderOriginalRoutingKey: "k.bad",
		"h":                             "v",
	}
	for k, v := range checks {
		if d.Headers[k] != v {
			t.Errorf("dead letter header %s = %q, want %q (headers %v)", k, d.Headers[k], v, d.Headers)
		}
	}
	if !strings.Contains(d.Headers[broker.HeaderErrorReason], "bad row") {
		t.Errorf("dead letter %s = %q, want the handler's reason", broker.HeaderErrorReason, d.Headers[broker.HeaderErrorReason])
	}
	if string(d.Body) != "bad" {
		t.Errorf("dead letter body %q, want %q", d.Body, "bad")
	}
	if n, _ := peekCount(t, h, dl, q.ErrorQueue()); n != 1 {
		t.Errorf("after a second Peek the error queue holds %d, want 1 (Peek must not remove)", n)
	}
	// The failed delivery is acked once its dead letter is confirmed; the
	// ack reaches the server asynchronously, so the queue empties soon
	// after the dead letter shows, not at once.
	waitFor(t, h, "the dead-lettered message to leave "+q.Name, func() bool { n, _ := peekCount(t, h, dl, q.Name); return n == 0 })

	mu.Lock()
	failing = false
	mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout())
	defer cancel()
	moved, err := dl.Replay(ctx, q.ErrorQueue(), 10)
	if err != nil || moved != 1 {
		t.Fatalf("Replay = %d, %v; want 1, nil", moved, err)
	}
	waitFor(t, h, "the replayed message", func() bool { mu.Lock(); defer mu.Unlock(); return len(replayed) > 0 })
	mu.Lock()
	r := replayed[0]
	mu.Unlock()
	if r.RetryCount != 0 || r.Exchange != f.topic || r.RoutingKey != "k.bad" || r.Queue != q.Name {
		t.Errorf("replayed delivery: retry %d, exchange %q, key %q, queue %q; want 0, %q, %q, %q",
			r.RetryCount, r.Exchange, r.RoutingKey, r.Queue, f.topic, "k.bad", q.Name)
	}
	waitFor(t, h, "the error queue to empty", func() bool { n, _ := peekCount(t, h, dl, q.ErrorQueue()); return n == 0 })
	if got := rec.okCount("good"); got != 1 {
		t.Errorf("good message handled %d times, want 1", got)
	}
}

// One failing message in a batch goes its own way; its neighbours are
// acked once.
func testPartialFailure(t *testing.T, h Harness) {
	f := newFixture(t)
	q := f.queue(t, "partial", []topology.Binding{bind(f.direct, "k")}, func(q *topology.Queue) {
		q.MaxRetries = 0 // dead-letter at once
		q.Batch.MaxWait = 200 * time.Millisecond
	})
	b := open(t, h, f.top)
	dl := deadLetters(t, b)
	publish(t, h, b, f.direct, msg("k", "g1"), msg("k", "bad"), msg("k", "g2"), msg("k", "g3"))

	rec := newRecorder()
	var withNeighbours atomic.Bool
	run(t, h, b, q, func(_ context.Context, batch []broker.Delivery) error {
		failed := map[int]error{}
		for i, d := range batch {
			if string(d.Body) == "bad" {
				failed[i] = fault.Permanentf("cannot decode")
				if len(batch) > 1 {
					withNeighbours.Store(true)
				}
			}
		}
		rec.add(batch, failed, false)
		if len(failed) > 0 {
			return fault.NewPartial(failed)
		}
		return nil
	})
	waitFor(t, h, "the dead letter", func() bool { n, _ := peekCount(t, h, dl, q.ErrorQueue()); return n == 1 })
	publish(t, h, b, f.direct, msg("k", "end"))
	waitFor(t, h, "the end marker", func() bool { return rec.okCount("end") > 0 })

	if got := rec.okBodies(); !slices.Equal(got, []string{"end", "g1", "g2", "g3"}) {
		t.Errorf("succeeded %s, want each of end g1 g2 g3 once", join(got))
	}
	if !withNeighbours.Load() {
		t.Errorf("the failing message never came in a batch with others (batches %v); the case proves nothing", rec.calls())
	}
	n, sample := peekCount(t, h, dl, q.ErrorQueue())
	if n != 1 || len(sample) != 1 || string(sample[0].Body) != "bad" {
		t.Errorf("error queue holds %d (sample %v), want just \"bad\"", n, sample)
	}
}

// A message no queue is bound for is refused with ErrUnroutable; in a
// mixed publish the routable messages still go through.
func testUnroutable(t *testing.T, h Harness) {
	f := newFixture(t)
	q := f.queue(t, "routed", []topology.Binding{bind(f.topic, "yes.*")}, nil)
	b := open(t, h, f.top)
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout())
	defer cancel()

	err := b.Publish(ctx, f.topic, []broker.Message{msg("no.where", "lost")})
	if !errors.Is(err, broker.ErrUnroutable) {
		t.Fatalf("Publish with an unbound key = %v, want ErrUnroutable", err)
	}
	err = b.Publish(ctx, f.topic, []broker.Message{msg("yes.one", "kept"), msg("no.where", "lost")})
	if !errors.Is(err, broker.ErrUnroutable) {
		t.Fatalf("mixed Publish = %v, want ErrUnroutable", err)
	}
	var pe *broker.PublishError
	if errors.As(err, &pe) {
		if _, ok := pe.Failed[1]; !ok || len(pe.Failed) != 1 {
			t.Errorf("PublishError names %v, want just #1", pe.Failed)
		}
		rec := newRecorder()
		run(t, h, b, q, okHandler(rec))
		waitFor(t, h, "the routable message of the mixed publish", func() bool { return rec.okCount("kept") == 1 })
	}
}

// Confirmed messages survive a restart of the broker server, and
// publishing and consuming work after it.
func testRestart(t *testing.T, h Harness) {
	if h.Restart == nil {
		t.Fatal("Harness.Restart is nil: every broker must show its messages survive a restart")
	}
	f, q, b := openDirect(t, h, "durable")
	var before []broker.Message
	for i := range 5 {
		before = append(before, msg("k", fmt.Sprintf("before-%d", i)))
	}
	publish(t, h, b, f.direct, before...)

	if !h.RestartKeepsClients {
		ctx, cancel := context.WithTimeout(context.Background(), h.timeout())
		if err := b.Close(ctx); err != nil {
			t.Errorf("Close before restart: %v", err)
		}
		cancel()
	}
	h.Restart(t)
	if !h.RestartKeepsClients {
		b = open(t, h, f.top)
	}
	waitFor(t, h, "Ready after the restart", b.Ready)

	// The client may still be reconnecting: publish until it is accepted.
	publishUntilAccepted(t, h, b, f.direct, msg("k", "after"), "restart", func() { time.Sleep(100 * time.Millisecond) })
	rec := newRecorder()
	run(t, h, b, q, okHandler(rec))
	waitFor(t, h, "all messages after the restart", func() bool { return rec.distinctOK() == 6 })
	for _, m := range before {
		if rec.okCount(string(m.Body)) == 0 {
			t.Errorf("%s was lost in the restart", m.Body)
		}
	}
}

// A slow consumer never holds more than its prefetch: count the messages
// inside handlers at once, and the size of each batch.
func testBoundedPrefetch(t *testing.T, h Harness) {
	f := newFixture(t)
	const consumers, prefetch, batchMax = 2, 20, 10
	q := f.queue(t, "slow", []topology.Binding{bind(f.direct, "k")}, func(q *topology.Queue) {
		q.Consumers, q.Prefetch, q.Batch.MaxMessages = consumers, prefetch, batchMax
		q.Batch.MaxWait = 20 * time.Millisecond
	})
	b := open(t, h, f.top)
	const n = 300
	msgs := make([]broker.Message, n)
	for i := range msgs {
		msgs[i] = msg("k", fmt.Sprintf("m%03d", i))
	}
	publish(t, h, b, f.direct, msgs...)

	var inside, maxInside, maxBatch atomic.Int64
	rec := newRecorder()
	run(t, h, b, q, func(_ context.Context, batch []broker.Delivery) error {
		cur := inside.Add(int64(len(batch)))
		for {
			m := maxInside.Load()
			if cur <= m || maxInside.CompareAndSwap(m, cur) {
				break
			}
		}
		for {
			m := maxBatch.Load()
			if int64(len(batch)) <= m || maxBatch.CompareAndSwap(m, int64(len(batch))) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		inside.Add(-int64(len(batch)))
		rec.add(batch, nil, false)
		return nil
	})
	waitFor(t, h, "300 messages", func() bool { return rec.distinctOK() == n })
	if m := maxBatch.Load(); m > batchMax {
		t.Errorf("a batch held %d messages, more than batch.max_messages %d", m, batchMax)
	}
	if m := maxInside.Load(); m > consumers*prefetch {
		t.Errorf("%d messages were in handlers at once, more than consumers×prefetch = %d", m, consumers*prefetch)
	}
}

// Close is idempotent; afterwards the broker is not ready and refuses work
// with ErrClosed.
func testClose(t *testing.T, h Harness) {
	f, q, b := openDirect(t, h, "closing")
	waitFor(t, h, "Ready", b.Ready)

	rec := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.Consume(ctx, b, q, okHandler(rec)) }()

	closeCtx, closeCancel := context.WithTimeout(context.Background(), h.timeout())
	defer closeCancel()
	if err := b.Close(closeCtx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(closeCtx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if b.Ready() {
		t.Error("Ready after Close")
	}
	if err := b.Publish(closeCtx, f.direct, []broker.Message{msg("k", "late")}); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, broker.ErrClosed) {
			t.Errorf("Consume running at Close returned %v, want ErrClosed", err)
		}
	case <-time.After(h.timeout()):
		t.Fatal("Consume did not return after Close")
	}
}

// A queue deleted under a running consumer is declared again and consumed:
// the consumer neither stops nor dies, and messages published after the
// deletion arrive.
func testQueueDeleted(t *testing.T, h Harness) {
	if h.DeleteQueue == nil {
		t.Fatal("Harness.DeleteQueue is nil: every broker must show a deleted queue comes back")
	}
	f, q, b := openDirect(t, h, "deleted")
	rec := newRecorder()
	r := run(t, h, b, q, okHandler(rec))
	publish(t, h, b, f.direct, msg("k", "before"))
	waitFor(t, h, "the message before the deletion", func() bool { return rec.okCount("before") == 1 })

	h.DeleteQueue(t, b, q.Name)

	// Until the queue is back a publish may be unroutable: try again.
	publishUntilAccepted(t, h, b, f.direct, msg("k", "after"), "the queue was deleted", func() {
		select {
		case err := <-r.done:
			t.Fatalf("Consume returned %v after its queue was deleted; want it to declare the queue again and go on", err)
		case <-time.After(100 * time.Millisecond):
		}
	})
	waitFor(t, h, "the message published after the deletion", func() bool { return rec.okCount("after") == 1 })
	select {
	case err := <-r.done:
		t.Fatalf("Consume returned %v after its queue was deleted", err)
	default:
	}
}

// One Replay call moves only the dead letters that were in the error queue
// when it began, each once, even when the replayed messages fail again at
// once and return to the error queue during the call; and a limit of 0 or
// a huge one is capped, not refused.
func testReplayBounded(t *testing.T, h Harness) {
	f := newFixture(t)
	q := f.queue(t, "replayloop", []topology.Binding{bind(f.direct, "k")}, func(q *topology.Queue) {
		q.MaxRetries = 0 // dead-letter at once
		q.Batch.MaxMessages = 50
	})
	b := open(t, h, f.top)
	dl := deadLetters(t, b)

	var mu sync.Mutex
	handled := map[string]int{}
	run(t, h, b, q, func(_ context.Context, batch []broker.Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		failed := map[int]error{}
		for i, d := range batch {
			handled[string(d.Body)]++
			failed[i] = fault.Permanentf("always bad")
		}
		return fault.NewPartial(failed)
	})
	const n = 300
	msgs := make([]broker.Message, n)
	for i := range msgs {
		msgs[i] = msg("k", fmt.Sprintf("bad-%03d", i))
	}
	publish(t, h, b, f.direct, msgs...)
	waitFor(t, h, "300 dead letters", func() bool { c, _ := peekCount(t, h, dl, q.ErrorQueue()); return c == n })

	for _, limit := range []int{0, 1 << 30} {
		mu.Lock()
		before := map[string]int{}
		for k, v := range handled {
			before[k] = v
		}
		mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), h.timeout())
		moved, err := dl.Replay(ctx, q.ErrorQueue(), limit)
		cancel()
		if err != nil || moved != n {
			t.Fatalf("Replay(limit %d) = %d, %v; want %d, nil (each dead letter once)", limit, moved, err, n)
		}
		// Every replayed message fails again and returns; then each was
		// handled exactly once more.
		waitFor(t, h, "the replayed messages to be dead letters again", func() bool {
			c, _ := peekCount(t, h, dl, q.ErrorQueue())
			return c == n
		})
		mu.Lock()
		for i := range n {
			body := fmt.Sprintf("bad-%03d", i)
			if got := handled[body] - before[body]; got != 1 {
				t.Errorf("limit %d: %s handled %d times after one Replay, want 1", limit, body, got)
			}
		}
		mu.Unlock()
	}
}

// A message stored straight in one queue (broker.QueueRouter, how the
// pipeline packs events per queue) reaches that queue only, whatever
// other queues the exchange binds; its delivery names the exchange and
// routing key it was published for; a retry and a dead letter of it keep
// them, and a replay puts it back into that queue only.
func testPackedToQueues(t *testing.T, h Harness) {
	f := newFixture(t)
	q := f.queue(t, "packed", []topology.Binding{bind(f.topic, "k.*")}, func(q *topology.Queue) { q.MaxRetries = 1 })
	other := f.queue(t, "other", []topology.Binding{bind(f.topic, "#")}, nil)
	b := open(t, h, f.top)
	qr, ok := b.(broker.QueueRouter)
	if !ok {
		t.Fatalf("%T is not a broker.QueueRouter: the pipeline could not pack events per queue", b)
	}
	if !qr.Packs(f.topic) {
		t.Fatalf("Packs(%q) = false for an exchange of the topology marked neither typed nor error", f.topic)
	}
	if got := qr.Queues(f.topic, "k.x"); !slices.Equal(got, []string{q.Name, other.Name}) {
		t.Fatalf("Queues(%q, k.x) = %v, want [%s %s]", f.topic, got, q.Name, other.Name)
	}
	dl := deadLetters(t, b)

	var mu sync.Mutex
	failing := true
	var seen []broker.Delivery // every delivery of "bad"
	rec := newRecorder()
	run(t, h, b, q, failingBad(&mu, rec, func(_ int, d broker.Delivery) error {
		seen = append(seen, d)
		if failing {
			return fault.Permanentf("bad row")
		}
		return nil
	}))
	otherRec := newRecorder()
	run(t, h, b, other, okHandler(otherRec))

	ctx, cancel := context.WithTimeout(context.Background(), h.timeout())
	defer cancel()
	err := qr.PublishToQueues(ctx, f.topic, []string{q.Name, q.Name}, []broker.Message{
		{RoutingKey: "", Headers: map[string]string{"h": "v"}, Body: []byte("bad")},
		msg("k.good", "good"),
	})
	if err != nil {
		t.Fatalf("PublishToQueues: %v", err)
	}
	err = qr.PublishToQueues(ctx, f.topic, []string{"bt_" + f.suffix + "_nowhere"}, []broker.Message{msg("k.x", "lost")})
	if !errors.Is(err, broker.ErrUnroutable) {
		t.Fatalf("PublishToQueues to a queue that does not exist = %v, want ErrUnroutable", err)
	}
	waitFor(t, h, "the dead letter", func() bool { n, _ := peekCount(t, h, dl, q.ErrorQueue()); return n == 1 })
	waitFor(t, h, "the good message", func() bool { return rec.okCount("good") == 1 })
	for _, d := range rec.all() {
		if string(d.Body) == "good" && (d.Exchange != f.topic || d.RoutingKey != "k.good") {
			t.Errorf("packed delivery: exchange %q, key %q; want %q, %q", d.Exchange, d.RoutingKey, f.topic, "k.good")
		}
	}
	mu.Lock()
	for _, d := range seen {
		if d.Exchange != f.topic || d.RoutingKey != "" || d.Headers["h"] != "v" {
			t.Errorf("delivery of the failing message (retry %d): exchange %q, key %q, h=%q; want %q, \"\", v", d.RetryCount, d.Exchange, d.RoutingKey, d.Headers["h"], f.topic)
		}
	}
	if len(seen) != 2 {
		t.Errorf("failing message handed %d times, want 2 (MaxRetries 1)", len(seen))
	}
	failing = false
	mu.Unlock()
	_, sample := peekCount(t, h, dl, q.ErrorQueue())
	if len(sample) != 1 || sample[0].Headers[broker.HeaderOriginalExchange] != f.topic || sample[0].Headers[broker.HeaderOriginalQueue] != q.Name {
		t.Fatalf("dead letter sample %v; want one with %s=%s, %s=%s", sample, broker.HeaderOriginalExchange, f.topic, broker.HeaderOriginalQueue, q.Name)
	}
	moved, err := dl.Replay(ctx, q.ErrorQueue(), 10)
	if err != nil || moved != 1 {
		t.Fatalf("Replay = %d, %v; want 1, nil", moved, err)
	}
	waitFor(t, h, "the replayed message", func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == 3 })
	mu.Lock()
	if r := seen[2]; r.Exchange != f.topic || r.RoutingKey != "" || r.Queue != q.Name || r.RetryCount != 0 {
		t.Errorf("replayed delivery: exchange %q, key %q, queue %q, retry %d; want %q, \"\", %q, 0", r.Exchange, r.RoutingKey, r.Queue, r.RetryCount, f.topic, q.Name)
	}
	mu.Unlock()
	// The other queue, bound to every key of the exchange, got none of
	// them: only its end marker.
	publish(t, h, b, f.topic, msg("z.end", "end"))
	waitFor(t, h, "the other queue's end marker", func() bool { return otherRec.okCount("end") == 1 })
	if got := bodies(otherRec.all()); !slices.Equal(got, []string{"end"}) {
		t.Errorf("queue %s, bound to # on the exchange, got %s; want only the end marker", other.Name, join(got))
	}
}

// failingBad is a handler that records every batch in rec and fails each
// delivery whose body is "bad" with the error onBad gives it (nil: it
// succeeds). It holds mu while it runs, which guards what onBad touches.
func failingBad(mu *sync.Mutex, rec *recorder, onBad func(i int, d broker.Delivery) error) broker.BatchHandler {
	return func(_ context.Context, batch []broker.Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		failed := map[int]error{}
		for i, d := range batch {
			if string(d.Body) != "bad" {
				continue
			}
			if err := onBad(i, d); err != nil {
				failed[i] = err
			}
		}
		rec.add(batch, failed, false)
		if len(failed) > 0 {
			return fault.NewPartial(failed)
		}
		return nil
	}
}
