package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-grpc/event-grpc/internal/backoff"
	"github.com/event-grpc/event-grpc/internal/broker"
	policy "github.com/event-grpc/event-grpc/internal/consume"
	"github.com/event-grpc/event-grpc/internal/consume/consumetest"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// publishN publishes n messages "0".."n-1" with routing key key.
func publishN(t testing.TB, b *Broker, exchange, key string, n int) {
	t.Helper()
	msgs := make([]broker.Message, n)
	for i := range msgs {
		msgs[i] = broker.Message{RoutingKey: key, Headers: map[string]string{"i": strconv.Itoa(i)}, Body: []byte(strconv.Itoa(i))}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Publish(ctx, exchange, msgs); err != nil {
		t.Fatalf("Publish: %v", err)
	}
}

// runAccepting runs the consume policy on q in the background with a
// handler that accepts every batch; the channel receives its result.
func runAccepting(b *Broker, q topology.Queue) <-chan error {
	done := make(chan error, 1)
	go func() {
		done <- policy.Run(context.Background(), b, q, func(context.Context, []broker.Delivery) error { return nil })
	}()
	return done
}

// wantClosed fails the test unless the result of runAccepting comes within
// timeout and is ErrClosed.
func wantClosed(t testing.TB, done <-chan error, timeout time.Duration) {
	t.Helper()
	select {
	case err := <-done:
		if !errors.Is(err, broker.ErrClosed) {
			t.Fatalf("Consume after Close = %v, want ErrClosed", err)
		}
	case <-time.After(timeout):
		t.Fatal("Consume did not return after Close")
	}
}

// consume runs the consume runner on b in the background; stop cancels it
// and returns its result.
func consume(t testing.TB, b *Broker, q topology.Queue, h broker.BatchHandler) (stop func() error) {
	t.Helper()
	return consumeReg(t, b, nil, q, h)
}

// consumeReg is consume with the runner's metrics registered on reg.
func consumeReg(t testing.TB, b *Broker, reg prometheus.Registerer, q topology.Queue, h broker.BatchHandler) (stop func() error) {
	t.Helper()
	r, nerr := policy.NewRunner(b, policy.RunnerConfig{Registerer: reg})
	if nerr != nil {
		t.Fatal(nerr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, q, h) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				err = errors.New("Consume did not return within 20s of cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func TestConsumeBatches(t *testing.T) {
	tests := []struct {
		name      string
		n         int
		batch     topology.Batch
		consumers int
		maxBatch  int // largest batch allowed
	}{
		{"by count", 1000, topology.Batch{MaxMessages: 100, MaxBytes: 1 << 20, MaxWait: time.Second}, 1, 100},
		// bodies are 1-3 bytes: 10 bytes hold at most 10 and at least 4.
		{"by bytes", 300, topology.Batch{MaxMessages: 100, MaxBytes: 10, MaxWait: time.Second}, 1, 10},
		{"by wait", 7, topology.Batch{MaxMessages: 100, MaxBytes: 1 << 20, MaxWait: 30 * time.Millisecond}, 1, 7},
		{"competing consumers", 2000, topology.Batch{MaxMessages: 50, MaxBytes: 1 << 20, MaxWait: 20 * time.Millisecond}, 3, 50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			top, b, reg, srv := setup(t)
			q := top.Queues[0]
			q.Batch, q.Consumers, q.Prefetch = tc.batch, tc.consumers, 2*tc.batch.MaxMessages
			publishN(t, b, top.Exchanges[0].Name, "a.x", tc.n)

			var mu sync.Mutex
			seen := map[string]int{}
			var sizes []int
			stop := consume(t, b, q, func(ctx context.Context, batch []broker.Delivery) error {
				mu.Lock()
				defer mu.Unlock()
				sizes = append(sizes, len(batch))
				for _, d := range batch {
					seen[string(d.Body)]++
					if d.Queue != q.Name || d.Exchange != top.Exchanges[0].Name || d.RoutingKey != "a.x" {
						t.Errorf("delivery = queue %q exchange %q key %q", d.Queue, d.Exchange, d.RoutingKey)
					}
					if d.Headers["i"] != string(d.Body) || d.RetryCount != 0 || d.Published.IsZero() {
						t.Errorf("delivery headers %v retry %d published %v", d.Headers, d.RetryCount, d.Published)
					}
				}
				return nil
			})
			eventually(t, 20*time.Second, "every message consumed", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(seen) == tc.n
			})
			if err := stop(); err != nil {
				t.Fatalf("Consume: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			for k, c := range seen {
				if c != 1 {
					t.Errorf("message %s handed %d times", k, c)
				}
			}
			for _, s := range sizes {
				if s > tc.maxBatch {
					t.Errorf("batch of %d > %d", s, tc.maxBatch)
				}
			}
			if tc.name == "by count" && len(sizes) != tc.n/tc.batch.MaxMessages {
				t.Errorf("%d batches (%v), want %d full ones", len(sizes), sizes, tc.n/tc.batch.MaxMessages)
			}
			if tc.name == "by bytes" && len(sizes) < 30 {
				t.Errorf("%d batches for %d messages of ≥1 byte under a 10-byte limit", len(sizes), tc.n)
			}
			// Everything was acked: nothing came back to the queue when the
			// consumer channels closed.
			if got := srv.depth(q.Name); got != 0 {
				t.Fatalf("queue holds %d messages after the consumer stopped", got)
			}
			if got := metricValue(t, reg, "eventgrpc_rabbitmq_acked_total"); got != float64(tc.n) {
				t.Errorf("acked metric = %v, want %d", got, tc.n)
			}
		})
	}
}

// TestConsumeStopFinishesBatch: a batch in the handler when ctx ends is
// finished and acked.
func TestConsumeStopFinishesBatch(t *testing.T) {
	top, b, _, srv := setup(t)
	q := top.Queues[0]
	publishN(t, b, top.Exchanges[0].Name, "a.x", 10)
	inHandler := make(chan struct{})
	release := make(chan struct{})
	var handled int
	stop := consume(t, b, q, func(ctx context.Context, batch []broker.Delivery) error {
		close(inHandler)
		<-release
		if ctx.Err() != nil {
			return ctx.Err() // the handler's context must outlive the stop
		}
		handled += len(batch)
		return nil
	})
	<-inHandler
	done := make(chan error, 1)
	go func() { done <- stop() }()
	time.Sleep(100 * time.Millisecond)
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Consume: %v", err)
	}
	if handled != 10 {
		t.Fatalf("handled %d, want the whole batch of 10", handled)
	}
	if got := srv.depth(q.Name); got != 0 {
		t.Fatalf("queue holds %d after stop; the batch in hand was not acked", got)
	}
}

// TestConsumeTransient: a transient failure hands the same batch again,
// spends no retry count and acks once it succeeds.
func TestConsumeTransient(t *testing.T) {
	top, b, reg, srv := setup(t)
	q := top.Queues[0]
	publishN(t, b, top.Exchanges[0].Name, "a.x", 5)
	held := consumetest.NewHeld(t, 3, fmt.Errorf("write: %w", errTransient))
	stop := consumeReg(t, b, reg, q, held.Handle)
	eventually(t, 20*time.Second, "the batch to succeed", held.Succeeded)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	calls := held.Calls()
	for i := 1; i < len(calls); i++ {
		if fmt.Sprint(calls[i]) != fmt.Sprint(calls[0]) {
			t.Fatalf("call %d got %v, want the same batch %v", i, calls[i], calls[0])
		}
	}
	if got := srv.depth(q.Name); got != 0 {
		t.Fatalf("queue holds %d", got)
	}
	if got := srv.depth(q.ErrorQueue()); got != 0 {
		t.Fatalf("error queue holds %d after transient failures", got)
	}
	if got := metricValue(t, reg, "eventgrpc_consume_batches_held_total"); got != 3 {
		t.Errorf("transient errors metric = %v, want 3", got)
	}
}

// TestConsumeRetryThenDeadLetter: a message failing permanently comes back
// with x-retry-count 1, 2, then lands in the error queue with the reason
// headers; the other messages of its batches are acked.
func TestConsumeRetryThenDeadLetter(t *testing.T) {
	top, b, reg, srv := setup(t)
	q := top.Queues[0]
	q.MaxRetries = 2
	publishN(t, b, top.Exchanges[0].Name, "a.bad", 3) // bodies 0, 1, 2; "1" is bad

	var mu sync.Mutex
	var badSeen []broker.Delivery
	good := map[string]int{}
	stop := consumeReg(t, b, reg, q, func(ctx context.Context, batch []broker.Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		failed := map[int]error{}
		for i, d := range batch {
			if string(d.Body) == "1" {
				badSeen = append(badSeen, d)
				failed[i] = fmt.Errorf("column x: %q is not a number (attempt %d)", d.Body, d.RetryCount)
			} else {
				good[string(d.Body)]++
			}
		}
		if len(failed) == 0 {
			return nil
		}
		return &broker.FailedMessages{Failed: failed}
	})
	eventually(t, 20*time.Second, "the bad message in the error queue", func() bool {
		return srv.depth(q.ErrorQueue()) == 1
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(badSeen) != 3 {
		t.Fatalf("bad message handed %d times, want 3 (first try + 2 retries)", len(badSeen))
	}
	for i, d := range badSeen {
		if d.RetryCount != i {
			t.Errorf("attempt %d: RetryCount = %d", i, d.RetryCount)
		}
		if d.Exchange != top.Exchanges[0].Name || d.RoutingKey != "a.bad" {
			t.Errorf("attempt %d: exchange %q key %q, want the original ones", i, d.Exchange, d.RoutingKey)
		}
		if d.Headers["i"] != "1" {
			t.Errorf("attempt %d: own header lost: %v", i, d.Headers)
		}
	}
	if good["0"] != 1 || good["2"] != 1 {
		t.Errorf("good messages handed %v, want once each", good)
	}
	if got := srv.depth(q.Name); got != 0 {
		t.Errorf("queue holds %d", got)
	}
	dl := srv.get(q.ErrorQueue())
	if string(dl.Body) != "1" {
		t.Fatalf("dead letter body %q", dl.Body)
	}
	if v, ok := dl.Headers[broker.HeaderRetryCount].(int32); !ok || v != 2 {
		t.Errorf("x-retry-count = %#v, want int32 2", dl.Headers[broker.HeaderRetryCount])
	}
	want := map[string]string{
		broker.HeaderOriginalExchange:   top.Exchanges[0].Name,
		broker.HeaderOriginalRoutingKey: "a.bad",
		broker.HeaderOriginalQueue:      q.Name,
		broker.HeaderErrorReason:        `column x: "1" is not a number (attempt 2)`,
		"i":                             "1",
	}
	for k, v := range want {
		if dl.Headers[k] != v {
			t.Errorf("dead letter header %s = %#v, want %q", k, dl.Headers[k], v)
		}
	}
	if dl.Exchange != top.ErrorExchange || dl.RoutingKey != q.Name {
		t.Errorf("dead letter went through %q/%q", dl.Exchange, dl.RoutingKey)
	}
	if got := metricValue(t, reg, "eventgrpc_consume_retried_messages_total"); got != 2 {
		t.Errorf("retried metric = %v, want 2", got)
	}
	if got := metricValue(t, reg, "eventgrpc_consume_dead_lettered_messages_total"); got != 1 {
		t.Errorf("dead-lettered metric = %v, want 1", got)
	}
}

func TestConsumeMissingQueue(t *testing.T) {
	b, _ := newBroker(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := policy.Run(ctx, b, topology.Queue{Name: "no.such.queue." + suffix()}, func(context.Context, []broker.Delivery) error { return nil })
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Consume of a missing queue = %v (ctx %v), want an error at once", err, ctx.Err())
	}
}

// TestCloseStopsConsume: Close makes a running Consume finish its batch and
// return ErrClosed.
func TestCloseStopsConsume(t *testing.T) {
	top := testTopology(t, "a")
	b, _ := newBroker(t, top)
	done := runAccepting(b, top.Queues[0])
	srv := newServer(t)
	eventually(t, 10*time.Second, "the consumer to start", func() bool { return srv.consumers(top.Queues[0].Name) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	wantClosed(t, done, 10*time.Second)
}

// TestDeadLetterRefusedIsHeld: when the error queue is gone (an operator
// deleted it), a dead letter comes back unroutable. The failed message is
// not acked — it stays in its queue — the refusals are counted by reason,
// and the consumer is not pinned: a later good message is still handled.
func TestDeadLetterRefusedIsHeld(t *testing.T) {
	top, b, _, srv := setup(t)
	q := top.Queues[0]
	q.MaxRetries = 0
	ch := srv.channel()
	if _, err := ch.QueueDelete(q.ErrorQueue(), false, false, false); err != nil {
		t.Fatal(err)
	}
	ch.Close()

	reg := prometheus.NewRegistry()
	r, err := policy.NewRunner(b, policy.RunnerConfig{
		Registerer:        reg,
		Hold:              backoff.Policy{Initial: time.Millisecond, Max: 50 * time.Millisecond},
		RepublishAttempts: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	var good atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- r.Run(ctx, q, func(_ context.Context, batch []broker.Delivery) error {
			failed := map[int]error{}
			for i, d := range batch {
				if string(d.Body) == "bad" {
					failed[i] = fault.Permanentf("bad row")
				} else {
					good.Add(1)
				}
			}
			return fault.NewPartial(failed)
		})
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	defer stop()
	ctxp, cancelp := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelp()
	if err := b.Publish(ctxp, top.Exchanges[0].Name, []broker.Message{{RoutingKey: "a.x", Body: []byte("bad")}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "refused dead letters to be counted", func() bool {
		return metricValue(t, reg, "eventgrpc_consume_republish_given_back_total") >= 1
	})
	if got := metricValue(t, reg, "eventgrpc_consume_republish_failed_total"); got < 3 {
		t.Errorf("republish_failed = %v, want at least 3 (one per try)", got)
	}
	if err := b.Publish(ctxp, top.Exchanges[0].Name, []broker.Message{{RoutingKey: "a.x", Body: []byte("good")}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the good message", func() bool { return good.Load() == 1 })
	stop()
	eventually(t, 20*time.Second, "the bad message back in its queue", func() bool { return srv.depth(q.Name) == 1 })
}

// Settling a set of deliveries that starts with the oldest unsettled ones
// and has gaps acks exactly that set (a multiple ack for the leading run,
// single acks for the rest); what was not settled returns to the queue
// when the subscription closes.
func TestSettleRunsAndGaps(t *testing.T) {
	top := testTopology(t, "gaps")
	b, _ := newBroker(t, top)
	q := top.Queues[0]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var msgs []broker.Message
	for i := range 10 {
		msgs = append(msgs, broker.Message{RoutingKey: "gaps.x", Body: []byte(strconv.Itoa(i))})
	}
	if err := b.Publish(ctx, top.Exchanges[0].Name, msgs); err != nil {
		t.Fatal(err)
	}
	sub, err := b.Subscribe(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	var ds []broker.Delivery
	for len(ds) < 10 {
		got, err := sub.Fetch(ctx, 10-len(ds), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, got...)
	}
	for i, d := range ds {
		if string(d.Body) != strconv.Itoa(i) {
			t.Fatalf("delivery %d is %q; want them in order", i, d.Body)
		}
	}
	pick := func(idx ...int) []broker.Delivery {
		var out []broker.Delivery
		for _, i := range idx {
			out = append(out, ds[i])
		}
		return out
	}
	if err := sub.Settle(ctx, pick(0, 1, 2, 3, 4, 6, 8), broker.Ack); err != nil {
		t.Fatal(err)
	}
	if err := sub.Settle(ctx, pick(5), broker.Ack); err != nil {
		t.Fatal(err)
	}
	_ = sub.Close()
	srv := newServer(t)
	var left []string
	for range 10 {
		if srv.depth(q.Name) == 2 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for srv.depth(q.Name) > 0 {
		left = append(left, string(srv.get(q.Name).Body))
	}
	if !slices.Equal(left, []string{"7", "9"}) {
		t.Fatalf("after the subscription closed the queue holds %v, want [7 9]", left)
	}
}
