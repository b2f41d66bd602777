package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"golang.org/x/sync/errgroup"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/component/componenttest"
	policy "github.com/event-grpc/event-grpc/internal/consume"
	"github.com/event-grpc/event-grpc/internal/topology"
)

func TestPublishConfirm(t *testing.T) {
	top, b, reg, srv := setup(t)
	ex, q := top.Exchanges[0].Name, top.Queues[0].Name

	const n = 3000
	msgs := make([]broker.Message, n)
	for i := range msgs {
		msgs[i] = broker.Message{ID: strconv.Itoa(i), RoutingKey: "a.ev", ContentType: "application/json",
			Headers: map[string]string{"k": "v", broker.HeaderRetryCount: "0"}, Body: []byte(fmt.Sprintf(`{"i":%d}`, i))}
	}
	if err := b.Publish(context.Background(), ex, msgs); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	// Publish returned after the confirms: the messages are in the queue.
	if got := srv.depth(q); got != n {
		t.Fatalf("queue depth = %d, want %d", got, n)
	}
	d := srv.get(q)
	if d.DeliveryMode != amqp.Persistent {
		t.Errorf("delivery mode = %d, want persistent", d.DeliveryMode)
	}
	if d.MessageId != "0" || d.ContentType != "application/json" || string(d.Body) != `{"i":0}` {
		t.Errorf("first message = id %q type %q body %s", d.MessageId, d.ContentType, d.Body)
	}
	if d.Headers["k"] != "v" {
		t.Errorf("header k = %#v", d.Headers["k"])
	}
	if v, ok := d.Headers[broker.HeaderRetryCount].(int32); !ok || v != 0 {
		t.Errorf("x-retry-count = %#v, want int32 0", d.Headers[broker.HeaderRetryCount])
	}
	if got := metricValue(t, reg, "eventgrpc_rabbitmq_published_total"); got != n {
		t.Errorf("published metric = %v, want %d", got, n)
	}
	if got := metricValue(t, reg, "eventgrpc_rabbitmq_confirm_latency_seconds"); got != n {
		t.Errorf("confirm latency samples = %v, want %d", got, n)
	}
}

func TestPublishConcurrentSmallWindow(t *testing.T) {
	// A window of 8 on 2 channels with 16 publishers: calls wait for room.
	top, b, _, srv := setup(t, func(c *Config) { c.ConfirmWindow = 8; c.PublishChannels = 2 })
	var eg errgroup.Group
	for g := range 16 {
		eg.Go(func() error {
			for i := range 10 {
				msgs := make([]broker.Message, 20)
				for j := range msgs {
					msgs[j] = broker.Message{RoutingKey: "a.x", Body: []byte(fmt.Sprint(g, i, j))}
				}
				if err := b.Publish(context.Background(), top.Exchanges[0].Name, msgs); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if got := srv.depth(top.Queues[0].Name); got != 16*10*20 {
		t.Fatalf("depth = %d, want %d", got, 16*10*20)
	}
}

func TestPublishUnroutable(t *testing.T) {
	top, b, reg, srv := setup(t)
	ex := top.Exchanges[0].Name

	tests := []struct {
		name       string
		exchange   string
		keys       []string
		wantFailed []int
	}{
		{"all routable", ex, []string{"a.1", "a.2"}, nil},
		{"one unroutable in the middle", ex, []string{"a.1", "nobody.listens", "a.3"}, []int{1}},
		{"all unroutable", ex, []string{"x", "y"}, []int{0, 1}},
		{"missing exchange", "no.such.exchange." + suffix(), []string{"a.1"}, []int{0}},
		{"default exchange to the queue", "", []string{top.Queues[0].Name}, nil},
		{"default exchange to no queue", "", []string{"no.such.queue"}, []int{0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.depth(top.Queues[0].Name)
			msgs := make([]broker.Message, len(tc.keys))
			for i, k := range tc.keys {
				msgs[i] = broker.Message{RoutingKey: k, Body: []byte(k)}
			}
			err := b.Publish(context.Background(), tc.exchange, msgs)
			if len(tc.wantFailed) == 0 {
				if err != nil {
					t.Fatalf("Publish: %v", err)
				}
			} else {
				var pe *broker.PublishError
				if !errors.As(err, &pe) {
					t.Fatalf("Publish = %v (%T), want *PublishError", err, err)
				}
				if !errors.Is(err, broker.ErrUnroutable) {
					t.Fatalf("Publish = %v, want ErrUnroutable", err)
				}
				if len(pe.Failed) != len(tc.wantFailed) {
					t.Fatalf("failed = %v, want indexes %v", pe.Failed, tc.wantFailed)
				}
				for _, i := range tc.wantFailed {
					if pe.Failed[i] == nil {
						t.Fatalf("index %d not failed: %v", i, pe.Failed)
					}
				}
				for _, i := range tc.wantFailed {
					if tc.exchange != "" && !strings.Contains(pe.Failed[i].Error(), tc.exchange) {
						t.Errorf("error %q does not name the exchange", pe.Failed[i])
					}
				}
			}
			wantAdded := 0
			for i, k := range tc.keys {
				if !in(i, tc.wantFailed) && (tc.exchange == "" || k[0] == 'a') {
					wantAdded++
				}
			}
			if got := srv.depth(top.Queues[0].Name) - before; got != wantAdded {
				t.Fatalf("queue grew by %d, want %d", got, wantAdded)
			}
		})
	}
	if got := metricValue(t, reg, "eventgrpc_rabbitmq_returned_total"); got != 4 {
		t.Errorf("returned metric = %v, want 4", got)
	}
	// The publisher channels survived.
	if err := b.Publish(context.Background(), ex, []broker.Message{{RoutingKey: "a.after"}}); err != nil {
		t.Fatalf("publish after the failures: %v", err)
	}
}

// TestPublishReturnCorrelation interleaves routable and unroutable messages
// from many callers: each caller must get exactly its own failures.
func TestPublishReturnCorrelation(t *testing.T) {
	top, b, _, srv := setup(t, func(c *Config) { c.PublishChannels = 1 })
	var eg errgroup.Group
	for g := range 8 {
		eg.Go(func() error {
			for round := range 20 {
				msgs := make([]broker.Message, 10)
				var want []int
				for i := range msgs {
					key := "a.ok"
					if (g+round+i)%3 == 0 {
						key = "lost"
						want = append(want, i)
					}
					msgs[i] = broker.Message{RoutingKey: key}
				}
				err := b.Publish(context.Background(), top.Exchanges[0].Name, msgs)
				var pe *broker.PublishError
				if !errors.As(err, &pe) {
					return fmt.Errorf("round %d: %v, want a PublishError", round, err)
				}
				if len(pe.Failed) != len(want) {
					return fmt.Errorf("round %d: failed %v, want %v", round, pe.Failed, want)
				}
				for _, i := range want {
					if !errors.Is(pe.Failed[i], broker.ErrUnroutable) {
						return fmt.Errorf("round %d: index %d: %v", round, i, pe.Failed[i])
					}
				}
			}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		t.Fatal(err)
	}
	// 8·20·10 messages, a third of them (by the formula) unroutable.
	want := 0
	for g := range 8 {
		for round := range 20 {
			for i := range 10 {
				if (g+round+i)%3 != 0 {
					want++
				}
			}
		}
	}
	if got := srv.depth(top.Queues[0].Name); got != want {
		t.Fatalf("depth = %d, want %d", got, want)
	}
}

func TestPublishClosed(t *testing.T) {
	top := testTopology(t, "a")
	b, _ := newBroker(t, top)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	componenttest.StopTwice(t, ctx, b.Close)
	if b.Ready() {
		t.Fatal("Ready after Close")
	}
	err := b.Publish(ctx, top.Exchanges[0].Name, []broker.Message{{RoutingKey: "a.x"}})
	if !errors.Is(err, broker.ErrClosed) {
		t.Fatalf("Publish after Close = %v, want ErrClosed", err)
	}
	err = policy.Run(ctx, b, top.Queues[0], func(context.Context, []broker.Delivery) error { return nil })
	if !errors.Is(err, broker.ErrClosed) {
		t.Fatalf("Consume after Close = %v, want ErrClosed", err)
	}
}

func TestPublishCanceled(t *testing.T) {
	top := testTopology(t, "a")
	b, _ := newBroker(t, top)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := b.Publish(ctx, top.Exchanges[0].Name, []broker.Message{{RoutingKey: "a.x"}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish with a canceled ctx = %v", err)
	}
}

func in(i int, xs []int) bool {
	for _, x := range xs {
		if x == i {
			return true
		}
	}
	return false
}

// TestPublishBlocked raises a memory alarm on the server, which blocks
// publishing connections: Publish must refuse with ErrOverloaded (and fast
// once the block is known), and work again when the alarm clears.
func TestPublishBlocked(t *testing.T) {
	top := testTopology(t, "a")
	b, _ := newBroker(t, top, func(c *Config) { c.PublishTimeout = 500 * time.Millisecond })
	ex := top.Exchanges[0].Name
	rabbitmqctl(t, "set_vm_memory_high_watermark", "0")
	restored := false
	restore := func() {
		if !restored {
			restored = true
			rabbitmqctl(t, "set_vm_memory_high_watermark", "0.4")
		}
	}
	t.Cleanup(restore)

	eventually(t, 10*time.Second, "Publish to refuse with ErrOverloaded", func() bool {
		err := b.Publish(context.Background(), ex, []broker.Message{{RoutingKey: "a.x"}})
		return errors.Is(err, broker.ErrOverloaded)
	})
	start := time.Now()
	err := b.Publish(context.Background(), ex, []broker.Message{{RoutingKey: "a.x"}})
	if !errors.Is(err, broker.ErrOverloaded) || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("Publish while blocked = %v after %s, want ErrOverloaded at once", err, time.Since(start))
	}
	restore()
	eventually(t, 20*time.Second, "Publish to work after the alarm", func() bool {
		return b.Publish(context.Background(), ex, []broker.Message{{RoutingKey: "a.x"}}) == nil
	})
}

// Packs: an exchange of the topology is packed unless it is typed (in the
// topology or Config.TypedExchanges) or the error exchange; an exchange
// outside the topology is routed by the server. A typed name that is not
// an exchange of the topology is refused.
func TestPacksUnlessTyped(t *testing.T) {
	top := testTopology(t, "p")
	sfx := suffix()
	top.Exchanges = append(top.Exchanges,
		topology.Exchange{Name: "test.typed." + sfx, Kind: topology.KindTopic, Typed: true},
		topology.Exchange{Name: "test.named." + sfx, Kind: topology.KindDirect})
	b, _ := newBroker(t, top, func(c *Config) { c.TypedExchanges = []string{"test.named." + sfx} })
	for name, want := range map[string]bool{
		top.Exchanges[0].Name: true,
		top.ErrorExchange:     false,
		"test.typed." + sfx:   false,
		"test.named." + sfx:   false,
		"amq.topic":           false,
	} {
		if got := b.Packs(name); got != want {
			t.Errorf("Packs(%q) = %v, want %v", name, got, want)
		}
	}
	_, err := New(Config{URL: testURL, Topology: top, TypedExchanges: []string{"test.nowhere"}})
	if err == nil || !strings.Contains(err.Error(), `"test.nowhere" is not an exchange of the topology`) {
		t.Fatalf("New with an unknown typed exchange: %v", err)
	}
}
