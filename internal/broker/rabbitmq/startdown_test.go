package rabbitmq

import (
	"context"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/sink/sinktest"
)

// A RabbitMQ server that is down when the service starts: Start leaves a
// broker that is not ready, and it connects, declares and publishes once
// the server answers. On 470972f New failed and the service exited.
func TestStartWhileServerDown(t *testing.T) {
	p := sinktest.NewProxy(t, "127.0.0.1:5672")
	p.Cut() // nothing listens: the server is "down"
	top := testTopology(t, "down")
	b, err := New(Config{URL: URL("127.0.0.1", p.Port(), "guest", "guest", "/"), Topology: top, Heartbeat: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatalf("Start with the server down = %v, want nil (not ready)", err)
	}
	if b.Ready() {
		t.Fatal("ready with the server down")
	}
	if err := b.Publish(context.Background(), top.Exchanges[0].Name, []broker.Message{{RoutingKey: "down.x", Body: []byte("x")}}); err == nil {
		t.Fatal("publish succeeded with the server down")
	}
	p.Restart(t) // the server comes back
	deadline := time.Now().Add(15 * time.Second)
	for !b.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("not ready 15 s after the server came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := b.Publish(context.Background(), top.Exchanges[0].Name, []broker.Message{{RoutingKey: "down.x", Body: []byte("x")}}); err != nil {
		t.Fatalf("publish after the server came back: %v", err)
	}
	if n := newServer(t).depth(top.Queues[0].Name); n != 1 {
		t.Fatalf("queue holds %d, want 1", n)
	}
}
