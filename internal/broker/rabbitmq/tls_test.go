package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/broker/brokertest"
	"github.com/event-grpc/event-grpc/internal/clustertest"
	"github.com/event-grpc/event-grpc/internal/component/componenttest"
	"github.com/event-grpc/event-grpc/internal/tlsconf/tlsconftest"
)

// TestAMQPS: the broker publishes and consumes over amqps:// against a
// RabbitMQ node that takes only TLS (scripts/cluster/node.sh rabbitmq-tls,
// with a certificate for "localhost" from a CA made for the test); a
// client that trusts another CA, or that speaks plain AMQP, is refused.
func TestAMQPS(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := tlsconftest.Localhost(t, dir, "rabbit")
	port := clustertest.Script(t, "node.sh", "rabbitmq-tls", "start", ca.File, cert, key)
	t.Cleanup(func() { clustertest.Script(t, "node.sh", "rabbitmq-tls", "stop") })

	top := testTopology(t, "tls")
	// testTopology cleans up on the shared server; this node is the test's.
	url := fmt.Sprintf("amqps://guest:guest@localhost:%s/", port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := New(Config{URLs: []string{url}, TLS: ca.Client(t), Topology: top, Heartbeat: 2 * time.Second})
	componenttest.Start(t, ctx, b, err)
	brokertest.RoundTrip(t, ctx, b, top.Exchanges[0].Name, "tls.1", top.Queues[0])

	wrong := tlsconftest.NewCA(t, t.TempDir()).Client(t)
	for name, cfg := range map[string]Config{
		"wrong CA":  {URLs: []string{url}, TLS: wrong},
		"plaintext": {URLs: []string{fmt.Sprintf("amqp://guest:guest@localhost:%s/", port)}},
	} {
		cfg.Topology, cfg.Heartbeat = top, 2*time.Second
		b, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(ctx); err != nil {
			t.Errorf("%s: Start = %v, want nil (not ready)", name, err)
		}
		err = b.NotReady()
		_ = b.Close(context.Background())
		if !errors.Is(err, broker.ErrUnavailable) {
			t.Errorf("%s: NotReady = %v, want unavailable", name, err)
		} else if name == "wrong CA" && !strings.Contains(err.Error(), "certificate") {
			t.Errorf("%s: %v, want a certificate error", name, err)
		}
	}
}
