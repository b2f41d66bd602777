package rabbitmq

import (
	"context"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/broker/brokertest"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// TestConformance runs the shared broker suite against the real server.
// Restart stops and starts the RabbitMQ application; the broker made
// before it reconnects by itself.
func TestConformance(t *testing.T) {
	brokertest.Run(t, brokertest.Harness{
		New: func(t *testing.T, top *topology.Topology) broker.Broker {
			t.Helper()
			srv := newServer(t)
			t.Cleanup(func() { srv.deleteAll(top) })
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			b, err := New(ctx, Config{URL: testURL, Topology: top, Heartbeat: 2 * time.Second})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			return b
		},
		Restart: func(t *testing.T) {
			t.Helper()
			restart(t, 0, nil)
		},
		RestartKeepsClients: true,
		ReportsRedelivered:  true,
		Timeout:             30 * time.Second,
	})
}
