package brokertest

import (
	"context"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// Harness tells the suite how to make and restart brokers of one backend.
type Harness struct {
	// New returns a connected broker that has declared top. The suite
	// closes it (Close is called at the end of the test, and before Restart
	// when RestartKeepsClients is false). Within one test the suite has at
	// most one broker from New open at a time, so a backend whose New owns
	// the server (an embedded one) may reuse the same store for every call
	// made with the same t. Every test's topology has unique names
	// (exchanges "bt.<random>.*", queues "bt_<random>_*"); on a shared
	// server New should register a t.Cleanup that removes what the test
	// declared (queues, exchanges, streams).
	New func(t *testing.T, top *topology.Topology) broker.Broker

	// Consume runs the delivery policy on transport t for queue q until
	// ctx ends, handing each batch to h, and returns nil after ctx ended
	// (internal/consume.Run). The suite proves each transport under the
	// one delivery policy, and takes it as a parameter so that it imports
	// nothing above the broker contract. Every harness must provide it.
	Consume func(ctx context.Context, t broker.Transport, q topology.Queue, h broker.BatchHandler) error

	// Restart stops and starts the broker server. Messages published and
	// confirmed before it must survive. When RestartKeepsClients is false
	// the suite closes its broker before calling Restart and makes a new
	// one with New afterwards; when true, the broker made before the
	// restart must reconnect by itself and keep working. Every harness
	// must provide it: the restart case is part of the contract, and nil
	// fails it.
	Restart func(t *testing.T)

	// DeleteQueue removes queue from the server behind the running broker
	// b, as an operator would (RabbitMQ: delete the queue; JetStream:
	// delete the queue's durable consumer), on a connection of its own.
	// Every harness must provide it: a queue deleted under a running
	// service must be declared again and consumed, and nil fails the case.
	DeleteQueue func(t *testing.T, b broker.Broker, queue string)

	// RestartKeepsClients says brokers made by New before a Restart
	// reconnect by themselves.
	RestartKeepsClients bool

	// ReportsRedelivered says the backend marks a message delivered again
	// after its consumer died (Delivery.Redelivered).
	ReportsRedelivered bool

	// Timeout bounds each wait of the suite (a message arriving, a count
	// reaching its goal). Zero means 20s.
	Timeout time.Duration
}

func (h Harness) timeout() time.Duration {
	if h.Timeout > 0 {
		return h.Timeout
	}
	return 20 * time.Second
}

// Run runs every conformance case against the backend h makes.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("brokertest: Harness.New is nil")
	}
	if h.Consume == nil {
		t.Fatal("brokertest: Harness.Consume is nil (pass consume.Run)")
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, h) })
	}
}

type testCase struct {
	name string
	run  func(t *testing.T, h Harness)
}
