package rabbitmq

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/component/componenttest"
)

// TestReconnect stops the RabbitMQ application for two seconds while a
// consumer runs and a batch is in its handler: Ready turns false, Publish
// fails fast with ErrUnavailable, and afterwards the broker reconnects by
// itself, the consumer resumes, the held batch is redelivered and messages
// confirmed before the outage survive.
func TestReconnect(t *testing.T) {
	top := testTopology(t, "a", "idle")
	q, idle := top.Queues[0], top.Queues[1]
	ex := top.Exchanges[0].Name
	b, reg := newBroker(t, top)
	srv := newServer(t)

	publishN(t, b, ex, "idle.x", 50) // nobody consumes these

	var mu sync.Mutex
	seen := map[string]int{}
	redelivered := false
	holding := make(chan struct{})
	release := make(chan struct{})
	stop := consume(t, b, q, func(ctx context.Context, batch []broker.Delivery) error {
		for _, d := range batch {
			if string(d.Body) == "hold" {
				mu.Lock()
				first := seen["hold"] == 0
				seen["hold"]++
				if !first && d.Redelivered {
					redelivered = true
				}
				mu.Unlock()
				if first {
					close(holding)
					<-release // the connection goes away meanwhile
					return nil
				}
			}
		}
		mu.Lock()
		for _, d := range batch {
			if string(d.Body) != "hold" {
				seen[string(d.Body)]++
			}
		}
		mu.Unlock()
		return nil
	})
	publish := func(from, to int) {
		msgs := []broker.Message{}
		for i := from; i < to; i++ {
			msgs = append(msgs, broker.Message{RoutingKey: "a.x", Body: []byte(strconv.Itoa(i))})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Publish(ctx, ex, msgs); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for k := range seen {
			if k != "hold" {
				n++
			}
		}
		return n
	}
	publish(0, 100)
	eventually(t, 20*time.Second, "100 messages consumed", func() bool { return count() == 100 })
	ctx := context.Background()
	if err := b.Publish(ctx, ex, []broker.Message{{RoutingKey: "a.x", Body: []byte("hold")}}); err != nil {
		t.Fatal(err)
	}
	<-holding

	restart(t, 2*time.Second, func() {
		eventually(t, 10*time.Second, "Ready to turn false", func() bool { return !b.Ready() })
		start := time.Now()
		err := b.Publish(ctx, ex, []broker.Message{{RoutingKey: "a.x", Body: []byte("during")}})
		if !errors.Is(err, broker.ErrUnavailable) {
			t.Errorf("Publish during the outage = %v, want ErrUnavailable", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Publish during the outage took %s; it should fail fast", d)
		}
		if got := metricValue(t, reg, "eventgrpc_rabbitmq_ready"); got != 0 {
			t.Errorf("ready gauge = %v during the outage", got)
		}
		close(release) // its ack fails: the batch returns to the queue
	})

	eventually(t, 30*time.Second, "Ready after the restart", b.Ready)
	publish(100, 200)
	eventually(t, 30*time.Second, "200 messages consumed", func() bool { return count() == 200 })
	eventually(t, 20*time.Second, "the held batch redelivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return seen["hold"] >= 2
	})
	if err := stop(); err != nil {
		t.Fatalf("Consume: %v", err)
	}
	mu.Lock()
	if !redelivered {
		t.Error("the held message came back without Redelivered")
	}
	mu.Unlock()
	if got := srv.depth(idle.Name); got != 50 {
		t.Errorf("idle queue holds %d after the restart, want the 50 confirmed before", got)
	}
	if got := metricValue(t, reg, "eventgrpc_rabbitmq_reconnects_total"); got < 1 {
		t.Errorf("reconnects metric = %v", got)
	}
	if got := metricValue(t, reg, "eventgrpc_rabbitmq_ready"); got != 1 {
		t.Errorf("ready gauge = %v after the restart", got)
	}
}

// TestPublisherChannelReopened: a publisher channel closed under a live
// connection is replaced, and publishing goes on.
func TestPublisherChannelReopened(t *testing.T) {
	top := testTopology(t, "a")
	b, _ := newBroker(t, top, func(c *Config) { c.PublishChannels = 2 })
	s := b.session()
	old := make([]*pubChannel, len(s.pubs))
	for i, slot := range s.pubs {
		old[i] = slot.cur.Load()
		if err := old[i].ch.Close(); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "publisher channels reopened", func() bool {
		for i, slot := range s.pubs {
			if pc := slot.cur.Load(); pc == old[i] || pc.isClosed() {
				return false
			}
		}
		return true
	})
	if err := b.Publish(context.Background(), top.Exchanges[0].Name, []broker.Message{{RoutingKey: "a.x"}}); err != nil {
		t.Fatalf("Publish after reopening: %v", err)
	}
}

// TestCloseWhileDisconnected: Close during an outage returns promptly,
// stops a waiting consumer with ErrClosed and leaves no goroutine behind
// (TestMain checks).
func TestCloseWhileDisconnected(t *testing.T) {
	top := testTopology(t, "a")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := New(Config{URL: testURL, Topology: top, Heartbeat: 2 * time.Second})
	componenttest.Start(t, ctx, b, err)
	done := runAccepting(b, top.Queues[0])
	restart(t, 0, func() {
		eventually(t, 10*time.Second, "Ready to turn false", func() bool { return !b.Ready() })
		start := time.Now()
		if err := b.Close(ctx); err != nil {
			t.Errorf("Close during the outage: %v", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Close during the outage took %s", d)
		}
		wantClosed(t, done, 5*time.Second)
	})
}
