package rabbitmq

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/topology"
)

func TestDeclareIdempotent(t *testing.T) {
	top := testTopology(t, "a", "b")
	srv := newServer(t)
	b1, _ := newBroker(t, top)
	b2, _ := newBroker(t, top) // declares everything again
	if !b1.Ready() || !b2.Ready() {
		t.Fatal("brokers not ready after New")
	}
	// The error queue exists and is bound to the error exchange with the
	// queue's name as key.
	for _, q := range top.Queues {
		if n := srv.depth(q.ErrorQueue()); n != 0 {
			t.Fatalf("%s holds %d messages before the test", q.ErrorQueue(), n)
		}
		err := b2.Publish(context.Background(), top.ErrorExchange, []broker.Message{{RoutingKey: q.Name, Body: []byte("x")}})
		if err != nil {
			t.Fatalf("publish to the error exchange with key %s: %v", q.Name, err)
		}
		if n := srv.depth(q.ErrorQueue()); n != 1 {
			t.Fatalf("%s holds %d messages, want 1", q.ErrorQueue(), n)
		}
	}
}

func TestDeclareAcceptsExplicitClassicQueue(t *testing.T) {
	top := testTopology(t, "a")
	srv := newServer(t)
	ch := srv.channel()
	args := queueArgs(top.Queues[0], topology.QueueClassic, top.ErrorExchange)
	args["x-queue-type"] = "classic"
	if _, err := ch.QueueDeclare(top.Queues[0].Name, true, false, false, false, args); err != nil {
		t.Fatal(err)
	}
	ch.Close()
	newBroker(t, top)
}

func TestDeclareConflictsReported(t *testing.T) {
	top := testTopology(t, "a", "b", "c")
	srv := newServer(t)
	// Queues a and c exist with arguments the topology does not have; the
	// error exchange exists with another kind.
	for _, q := range []string{top.Queues[0].Name, top.Queues[2].Name} {
		ch := srv.channel()
		if _, err := ch.QueueDeclare(q, true, false, false, false, amqp.Table{"x-max-length": int32(10)}); err != nil {
			t.Fatal(err)
		}
		ch.Close()
	}
	ch := srv.channel()
	if err := ch.ExchangeDeclare(top.ErrorExchange, "fanout", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	ch.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := open(ctx, Config{URL: testURL, Topology: top})
	if b != nil {
		t.Fatal("New returned a broker with a refused topology")
	}
	var de *DeclareError
	if !errors.As(err, &de) {
		t.Fatalf("New error = %v (%T), want *DeclareError", err, err)
	}
	if len(de.Problems) != 3 {
		t.Fatalf("got %d problems, want 3: %v", len(de.Problems), err)
	}
	msg := err.Error()
	for _, want := range []string{
		`queue "` + top.Queues[0].Name + `" exists with different arguments`,
		`queue "` + top.Queues[2].Name + `" exists with different arguments`,
		"x-max-length",
		"delete it or align the topology",
		`exchange "` + top.ErrorExchange + `"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, top.Queues[1].Name+`" exists`) {
		t.Errorf("queue b reported though it matches:\n%s", msg)
	}
	// The declarations after the conflicts went through.
	if n := srv.depth(top.Queues[1].ErrorQueue()); n != 0 {
		t.Fatalf("error queue of b: %d messages", n)
	}
}

func TestNewUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := New(Config{URL: URL("127.0.0.1", 1, "guest", "guest", "/")})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	// A server down is not a start failure: the broker starts not ready
	// and says why.
	if err := b.Start(ctx); err != nil {
		t.Fatalf("Start on a closed port = %v, want nil (not ready)", err)
	}
	err = b.NotReady()
	if !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("NotReady on a closed port = %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), "guest:guest") {
		t.Fatalf("error shows the password: %v", err)
	}
}

func TestNoTopology(t *testing.T) {
	top := testTopology(t, "a")
	newBroker(t, top) // declares
	b, _ := newBroker(t, nil)
	srv := newServer(t)
	err := b.Publish(context.Background(), top.Exchanges[0].Name, []broker.Message{{RoutingKey: "a.x", Body: []byte("1")}})
	if err != nil {
		t.Fatalf("publish to an exchange outside the (nil) topology: %v", err)
	}
	if n := srv.depth(top.Queues[0].Name); n != 1 {
		t.Fatalf("depth = %d, want 1", n)
	}
	_ = topology.KindTopic
}

// Each queue is bounded in bytes on its own: one unconsumed queue filling
// up refuses publishes to itself, loudly and counted, while publishes to
// the other queues go on. On 470972f queues were unbounded.
func TestFullQueueRefusesOnlyItself(t *testing.T) {
	top := testTopology(t, "full", "other")
	top.Queues[0].MaxBytes = 4096
	b, reg := newBroker(t, top)
	ex := top.Exchanges[0].Name
	body := []byte(strings.Repeat("x", 1000))
	var refused error
	for i := 0; i < 20 && refused == nil; i++ {
		refused = b.Publish(context.Background(), ex, []broker.Message{{RoutingKey: "full.x", Body: body}})
	}
	if refused == nil {
		t.Fatal("20 KB published to a queue bounded at 4 KB without a refusal")
	}
	if fault := errors.Is(refused, broker.ErrUnavailable) || errors.Is(refused, broker.ErrOverloaded); !fault {
		t.Fatalf("refusal %v; want unavailable or overloaded", refused)
	}
	for i := range 20 {
		if err := b.Publish(context.Background(), ex, []broker.Message{{RoutingKey: "other.x", Body: body}}); err != nil {
			t.Fatalf("publish %d to the other queue while the first is full: %v", i, err)
		}
	}
	if got := metricValue(t, reg, "eventgrpc_rabbitmq_publish_errors_total"); got < 1 {
		t.Fatalf("refusals counted %v, want at least 1", got)
	}
	srv := newServer(t)
	if n := srv.depth(top.Queues[1].Name); n != 20 {
		t.Fatalf("the other queue holds %d, want 20", n)
	}
}
