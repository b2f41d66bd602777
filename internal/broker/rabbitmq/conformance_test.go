package rabbitmq

import (
	"context"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/broker/brokertest"
	consumestage "github.com/event-grpc/event-grpc/internal/consume"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// TestConformance runs the shared broker suite against the real server.
// Restart stops and starts the RabbitMQ application; the broker made
// before it reconnects by itself.
func TestConformance(t *testing.T) {
	brokertest.Run(t, brokertest.Harness{
		Consume: consumestage.Run,
		New: func(t *testing.T, top *topology.Topology) broker.Broker {
			t.Helper()
			srv := newServer(t)
			t.Cleanup(func() { srv.deleteAll(top) })
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			b, err := New(Config{URL: testURL, Topology: top, Heartbeat: 2 * time.Second})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if err := b.Start(ctx); err != nil {
				t.Fatal(err)
			}
			if err := b.NotReady(); err != nil {
				t.Fatal(err)
			}
			return b
		},
		Restart: func(t *testing.T) {
			t.Helper()
			restart(t, 0, nil)
		},
		DeleteQueue: func(t *testing.T, _ broker.Broker, queue string) {
			t.Helper()
			// On a connection of its own, as an operator's
			// `rabbitmqctl delete_queue` would.
			ch := newServer(t).channel()
			defer ch.Close()
			if _, err := ch.QueueDelete(queue, false, false, false); err != nil {
				t.Fatalf("QueueDelete %s: %v", queue, err)
			}
		},
		RestartKeepsClients: true,
		ReportsRedelivered:  true,
		Timeout:             30 * time.Second,
	})
}
