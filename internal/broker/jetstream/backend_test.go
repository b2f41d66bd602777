package jetstream_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/broker/brokertest"
	"github.com/event-grpc/event-grpc/internal/broker/jetstream"
	policy "github.com/event-grpc/event-grpc/internal/consume"
	"github.com/event-grpc/event-grpc/internal/telemetry/telemetrytest"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// parseTopology parses the queues of a test topology (YAML, a list under
// "queues:") into one with the topic exchange "ev.tx" and the error
// exchange.
func parseTopology(t testing.TB, queues string) *topology.Topology {
	t.Helper()
	top, err := topology.Parse([]byte(`
error_exchange: err.dx
exchanges:
  - {name: ev.tx, kind: topic}
  - {name: err.dx, kind: direct}
` + queues))
	if err != nil {
		t.Fatal(err)
	}
	return top
}

// testTopology has a topic exchange "ev.tx" with queues "all" (#) and
// "clicks" (Click), and the error exchange.
func testTopology(t *testing.T, mod func(*topology.Topology)) *topology.Topology {
	t.Helper()
	top := parseTopology(t, `
queues:
  - name: all
    bindings: [{exchange: ev.tx, key: "#"}]
    prefetch: 100
    batch: {max_messages: 50, max_wait: 50ms}
    handler: webengage
  - name: clicks
    bindings: [{exchange: ev.tx, key: Click}]
    prefetch: 100
    batch: {max_messages: 50, max_wait: 50ms}
    handler: webengage
`)
	if mod != nil {
		mod(top)
		if err := top.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	return top
}

func closeBroker(t *testing.T, b *jetstream.Broker) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func embedded(t *testing.T, cfg jetstream.Config) *jetstream.Broker {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	b := newBroker(t, cfg)
	t.Cleanup(func() { closeBroker(t, b) })
	return b
}

func TestConfigValidate(t *testing.T) {
	top := testTopology(t, nil)
	for _, tc := range []struct {
		name string
		cfg  jetstream.Config
		want string // "" = valid
	}{
		{"embedded", jetstream.Config{DataDir: "x", Topology: top}, ""},
		{"external", jetstream.Config{URL: externalURL, Topology: top}, ""},
		{"no store, no url", jetstream.Config{Topology: top}, "data dir"},
		{"no topology", jetstream.Config{DataDir: "x"}, "topology"},
		{"bad stream name", jetstream.Config{DataDir: "x", Topology: top, Stream: "a.b"}, "stream"},
		{"listener on external", jetstream.Config{URL: externalURL, Topology: top, ListenPort: 4222}, "listen port"},
		{"tiny ack wait", jetstream.Config{DataDir: "x", Topology: top, AckWait: time.Millisecond}, "ack wait"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want an error about %s", err, tc.want)
			}
		})
	}
}

func TestNewRefusesCollidingNames(t *testing.T) {
	top := testTopology(t, func(top *topology.Topology) {
		q := top.Queues[0]
		q.Name = "all_error" // the JetStream name of all.error
		top.Queues = append(top.Queues, q)
	})
	_, err := jetstream.New(jetstream.Config{DataDir: t.TempDir(), Topology: top})
	if err == nil || !strings.Contains(err.Error(), "all_error") {
		t.Fatalf("New = %v, want a name collision error", err)
	}
}

func TestNewUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	b, err := jetstream.New(jetstream.Config{URL: "nats://127.0.0.1:1", Topology: testTopology(t, nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	// A server down is not a start failure: the broker starts not ready
	// and says why.
	if err := b.Start(ctx); err != nil {
		t.Fatalf("Start against a closed port = %v, want nil (not ready)", err)
	}
	if err := b.NotReady(); !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("NotReady against a closed port = %v, want ErrUnavailable", err)
	}
}

// A full stream refuses publishes with ErrOverloaded and counts them.
func TestStreamFullIsOverloaded(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := embedded(t, jetstream.Config{Topology: testTopology(t, nil), MaxBytes: 32 << 10, Registerer: reg})
	body := make([]byte, 1024)
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		err = b.Publish(context.Background(), "ev.tx", []broker.Message{{RoutingKey: "View", Body: body}})
	}
	if !errors.Is(err, broker.ErrOverloaded) {
		t.Fatalf("publishing 100 KiB into a 32 KiB stream ended with %v, want ErrOverloaded", err)
	}
	if n := telemetrytest.Value(t, reg, "eventgrpc_jetstream_publish_errors_total", "kind", "overloaded"); n < 1 {
		t.Errorf("publish_errors_total{kind=overloaded} = %v, want ≥ 1", n)
	}
}

// While the server is gone, Publish fails at once with ErrUnavailable
// instead of waiting for the publish timeout, and Ready says false.
func TestDisconnectedFailsFast(t *testing.T) {
	top := testTopology(t, nil)
	dir := t.TempDir()
	server := newBroker(t, jetstream.Config{DataDir: dir, Topology: top, ListenPort: -1})
	client := newBroker(t, jetstream.Config{URL: server.ClientURL(), Topology: top, PublishTimeout: 10 * time.Second})
	defer closeBroker(t, client)
	waitUntil(t, "client ready", client.Ready)
	if err := client.Publish(context.Background(), "ev.tx", []broker.Message{{RoutingKey: "Click", Body: []byte("x")}}); err != nil {
		t.Fatalf("Publish while connected: %v", err)
	}

	closeBroker(t, server)
	waitUntil(t, "client not ready", func() bool { return !client.Ready() })
	start := time.Now()
	err := client.Publish(context.Background(), "ev.tx", []broker.Message{{RoutingKey: "Click", Body: []byte("x")}})
	if !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("Publish while disconnected = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Publish while disconnected took %v, want it to fail fast", d)
	}

	// The server's store still holds the confirmed message.
	again := embedded(t, jetstream.Config{DataDir: dir, Topology: top})
	n, _, err := again.Peek(context.Background(), "clicks", 0)
	if err != nil || n != 1 {
		t.Fatalf("Peek clicks after restart = %d, %v; want 1", n, err)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	brokertest.Eventually(t, 20*time.Second, what, cond)
}

// Publishing the same message ID twice stores it once per queue; copies
// for different queues do not de-duplicate each other.
func TestMessageIDDeduplicates(t *testing.T) {
	b := embedded(t, jetstream.Config{Topology: testTopology(t, nil)})
	m := broker.Message{ID: "evt-1", RoutingKey: "Click", Body: []byte("x")}
	for range 2 {
		if err := b.Publish(context.Background(), "ev.tx", []broker.Message{m}); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{"all", "clicks"} {
		if n, _, err := b.Peek(context.Background(), q, 0); err != nil || n != 1 {
			t.Errorf("Peek %s = %d, %v; want 1", q, n, err)
		}
	}
}

// A message larger than the batch byte limit is still delivered (alone),
// and batches otherwise stay within the limit.
func TestBatchByteLimit(t *testing.T) {
	top := testTopology(t, func(top *topology.Topology) { top.Queues[1].Batch.MaxBytes = 100 })
	b := embedded(t, jetstream.Config{Topology: top})
	msgs := []broker.Message{
		{RoutingKey: "Click", Body: []byte(strings.Repeat("a", 60))},
		{RoutingKey: "Click", Body: []byte(strings.Repeat("b", 60))},
		{RoutingKey: "Click", Body: []byte(strings.Repeat("c", 5000))},
		{RoutingKey: "Click", Body: []byte(strings.Repeat("d", 30))},
	}
	if err := b.Publish(context.Background(), "ev.tx", msgs); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var sizes [][]int
	got := 0
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- policy.Run(ctx, b, top.Queues[1], func(_ context.Context, batch []broker.Delivery) error {
			mu.Lock()
			defer mu.Unlock()
			var s []int
			for _, d := range batch {
				s = append(s, len(d.Body))
			}
			sizes = append(sizes, s)
			got += len(batch)
			return nil
		})
	}()
	waitUntil(t, "4 messages", func() bool { mu.Lock(); defer mu.Unlock(); return got == 4 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Consume: %v", err)
	}
	for _, s := range sizes {
		total := 0
		for _, n := range s {
			total += n
		}
		if total > 100 && len(s) > 1 {
			t.Errorf("batch of %v bytes exceeds max_bytes 100", s)
		}
	}
}

// jsClient is a JetStream client of b's server, closed at the end of the
// test.
func jsClient(t *testing.T, b *jetstream.Broker) natsjs.JetStream {
	t.Helper()
	nc, err := nats.Connect(b.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// collector runs the consume policy on a queue and notes each body it
// handles.
type collector struct {
	mu      sync.Mutex
	bodies  map[string]bool
	stopped chan struct{} // closed when Consume has returned, with err
	err     error
}

// collect starts consuming q; the consumer stops at the end of the test,
// which fails if Consume returned an error.
func collect(t *testing.T, b broker.Broker, q topology.Queue) *collector {
	t.Helper()
	c := &collector{bodies: map[string]bool{}, stopped: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(c.stopped)
		c.err = policy.Run(ctx, b, q, func(_ context.Context, batch []broker.Delivery) error {
			c.mu.Lock()
			defer c.mu.Unlock()
			for _, d := range batch {
				c.bodies[string(d.Body)] = true
			}
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-c.stopped
		if c.err != nil {
			t.Errorf("Consume: %v", c.err)
		}
	})
	return c
}

func (c *collector) seen(body string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bodies[body]
}

// A consumer deleted behind the backend's back is declared again and
// consuming goes on.
func TestConsumerRecreated(t *testing.T) {
	top := testTopology(t, nil)
	b := embedded(t, jetstream.Config{Topology: top, ListenPort: -1})
	c := collect(t, b, top.Queues[1])
	pub := func(body string) {
		t.Helper()
		if err := b.Publish(context.Background(), "ev.tx", []broker.Message{{RoutingKey: "Click", Body: []byte(body)}}); err != nil {
			t.Fatal(err)
		}
	}
	pub("one")
	waitUntil(t, "first message", func() bool { return c.seen("one") })

	js := jsClient(t, b)
	if err := js.DeleteConsumer(context.Background(), jetstream.StreamName(b, "clicks"), "clicks"); err != nil {
		t.Fatal(err)
	}
	pub("two")
	waitUntil(t, "message after the consumer was deleted", func() bool { return c.seen("two") })
}

// The whole stream deleted under a running consumer (an operator's `nats
// stream rm`) is declared again by the consumer, and consuming goes on; the
// consumer does not stop.
func TestStreamRecreated(t *testing.T) {
	top := testTopology(t, nil)
	b := embedded(t, jetstream.Config{Topology: top, ListenPort: -1})
	c := collect(t, b, top.Queues[1])
	pub := func(body string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return b.Publish(ctx, "ev.tx", []broker.Message{{RoutingKey: "Click", Body: []byte(body)}})
	}
	if err := pub("one"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "first message", func() bool { return c.seen("one") })

	js := jsClient(t, b)
	if err := js.DeleteStream(context.Background(), jetstream.StreamName(b, top.Queues[1].Name)); err != nil {
		t.Fatal(err)
	}
	// Publishes fail until the consumer has declared the stream again.
	waitUntil(t, "a publish accepted after the stream was deleted", func() bool {
		select {
		case <-c.stopped:
			t.Fatalf("Consume returned %v after the stream was deleted", c.err)
		default:
		}
		return pub("two") == nil
	})
	waitUntil(t, "message after the stream was deleted", func() bool { return c.seen("two") })
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	top := testTopology(t, nil)
	b := embedded(t, jetstream.Config{Topology: top, Registerer: reg})
	msgs := []broker.Message{{RoutingKey: "Click", Body: []byte("12345")}, {RoutingKey: "View", Body: []byte("678")}}
	if err := b.Publish(context.Background(), "ev.tx", msgs); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- policy.Run(ctx, b, top.Queues[0], func(context.Context, []broker.Delivery) error { return nil })
	}()
	get := func(name string, labels ...string) float64 { return telemetrytest.Value(t, reg, name, labels...) }
	waitUntil(t, "2 acks", func() bool { return get("eventgrpc_jetstream_acked_messages_total", "queue", "all") == 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, label, value string
		want               float64
	}{
		{"eventgrpc_jetstream_published_messages_total", "exchange", "ev.tx", 2},
		{"eventgrpc_jetstream_published_bytes_total", "exchange", "ev.tx", 8},
		{"eventgrpc_jetstream_consumed_messages_total", "queue", "all", 2},
	} {
		if got := get(c.name, c.label, c.value); got != c.want {
			t.Errorf("%s{%s=%s} = %v, want %v", c.name, c.label, c.value, got, c.want)
		}
	}
	// A broker made again on the same registry (as after a restart)
	// counts on in the same series.
	closeBroker(t, b)
	b2 := embedded(t, jetstream.Config{Topology: top, Registerer: reg, DataDir: t.TempDir()})
	if err := b2.Publish(context.Background(), "ev.tx", msgs[:1]); err != nil {
		t.Fatal(err)
	}
	if got := get("eventgrpc_jetstream_published_messages_total", "exchange", "ev.tx"); got != 3 {
		t.Errorf("published after a second New = %v, want 3", got)
	}
}

func TestBadArguments(t *testing.T) {
	top := testTopology(t, nil)
	b := embedded(t, jetstream.Config{Topology: top})
	ctx := context.Background()
	if err := policy.Run(ctx, b, topology.Queue{Name: "nope"}, func(context.Context, []broker.Delivery) error { return nil }); err == nil {
		t.Error("Consume of an undeclared queue succeeded")
	}
	if _, _, err := b.Peek(ctx, "nope", 1); err == nil {
		t.Error("Peek of an undeclared queue succeeded")
	}
	if _, err := b.Replay(ctx, "all", 1); err == nil {
		t.Error("Replay of a queue that is not an error queue succeeded")
	}
}

// The built-in topology declares, twice (declaring is idempotent).
func TestDefaultTopology(t *testing.T) {
	dir := t.TempDir()
	for range 2 {
		b := newBroker(t, jetstream.Config{DataDir: dir, Topology: topology.Default()})
		if err := b.Publish(context.Background(), "grpc_event.tx", []broker.Message{{RoutingKey: "ClickEvent", Body: []byte("x")}}); err != nil {
			t.Fatal(err)
		}
		closeBroker(t, b)
	}
	b := embedded(t, jetstream.Config{DataDir: dir, Topology: topology.Default()})
	for _, q := range []string{"grpc_clickhouse_event_q", "clickhouse_click_event_q"} {
		if n, _, err := b.Peek(context.Background(), q, 0); err != nil || n != 2 {
			t.Errorf("Peek %s = %d, %v; want 2", q, n, err)
		}
	}
}
