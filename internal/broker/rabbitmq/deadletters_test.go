package rabbitmq

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// deadLetter puts n messages into q's error queue the way a consumer does,
// by failing them until their retries are spent.
func deadLetter(t *testing.T, b *Broker, exchange string, q topology.Queue, n int) {
	t.Helper()
	publishN(t, b, exchange, "a.dead", n)
	srv := newServer(t)
	q.MaxRetries = 0
	stop := consume(t, b, q, func(ctx context.Context, batch []broker.Delivery) error {
		failed := map[int]error{}
		for i := range batch {
			failed[i] = fmt.Errorf("bad row %d", i)
		}
		return &broker.FailedMessages{Failed: failed}
	})
	eventually(t, 20*time.Second, "dead letters", func() bool { return srv.depth(q.ErrorQueue()) == n })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestPeekAndReplay(t *testing.T) {
	top, b, reg, srv := setup(t)
	q := top.Queues[0]
	deadLetter(t, b, top.Exchanges[0].Name, q, 25)

	count, sample, err := b.Peek(context.Background(), q.ErrorQueue(), 10)
	if err != nil {
		t.Fatalf("Peek: %v", err)
	}
	if count != 25 || len(sample) != 10 {
		t.Fatalf("Peek = %d, %d samples; want 25, 10", count, len(sample))
	}
	for _, d := range sample {
		if d.Exchange != top.Exchanges[0].Name || d.RoutingKey != "a.dead" || d.Queue != q.ErrorQueue() {
			t.Errorf("sample: exchange %q key %q queue %q", d.Exchange, d.RoutingKey, d.Queue)
		}
		if !strings.HasPrefix(d.Headers[broker.HeaderErrorReason], "bad row") || d.Headers[broker.HeaderOriginalQueue] != q.Name {
			t.Errorf("sample headers %v", d.Headers)
		}
	}
	// Peek removed nothing.
	if got := srv.depth(q.ErrorQueue()); got != 25 {
		t.Fatalf("error queue holds %d after Peek, want 25", got)
	}
	if _, _, err := b.Peek(context.Background(), "no.such.queue."+suffix(), 1); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Peek of a missing queue = %v", err)
	}

	moved, err := b.Replay(context.Background(), q.ErrorQueue(), 20)
	if err != nil || moved != 20 {
		t.Fatalf("Replay(20) = %d, %v", moved, err)
	}
	if got := srv.depth(q.ErrorQueue()); got != 5 {
		t.Fatalf("error queue holds %d after replaying 20 of 25", got)
	}
	if got := srv.depth(q.Name); got != 20 {
		t.Fatalf("queue holds %d after replaying 20", got)
	}
	moved, err = b.Replay(context.Background(), q.ErrorQueue(), 100)
	if err != nil || moved != 5 {
		t.Fatalf("Replay(100) of the last 5 = %d, %v", moved, err)
	}
	if got := metricValue(t, reg, "eventgrpc_rabbitmq_replayed_total"); got != 25 {
		t.Errorf("replayed metric = %v", got)
	}
	// The replayed messages are fresh: retry count 0, original routing.
	var mu sync.Mutex
	var got []broker.Delivery
	stop := consume(t, b, q, func(ctx context.Context, batch []broker.Delivery) error {
		mu.Lock()
		got = append(got, batch...)
		mu.Unlock()
		return nil
	})
	eventually(t, 20*time.Second, "replayed messages consumed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 25
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, d := range got {
		if d.RetryCount != 0 || d.Exchange != top.Exchanges[0].Name || d.RoutingKey != "a.dead" {
			t.Errorf("replayed: retry %d exchange %q key %q", d.RetryCount, d.Exchange, d.RoutingKey)
		}
		if _, ok := d.Headers[broker.HeaderErrorReason]; ok {
			t.Errorf("replayed message keeps %s", broker.HeaderErrorReason)
		}
	}
}

// TestReplayUnroutable: a dead letter whose original route is gone stays in
// the error queue and the replay says why.
func TestReplayUnroutable(t *testing.T) {
	top, b, _, srv := setup(t)
	q := top.Queues[0]
	ch := srv.channel()
	err := ch.PublishWithContext(context.Background(), top.ErrorExchange, q.Name, false, false, amqp.Publishing{
		Headers: amqp.Table{broker.HeaderOriginalExchange: top.Exchanges[0].Name, broker.HeaderOriginalRoutingKey: "nobody.binds.this",
			broker.HeaderRetryCount: int64(2)},
		Body: []byte("x"),
	})
	ch.Close()
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the dead letter", func() bool { return srv.depth(q.ErrorQueue()) == 1 })
	moved, err := b.Replay(context.Background(), q.ErrorQueue(), 10)
	if moved != 0 || err == nil || !strings.Contains(err.Error(), "unroutable") {
		t.Fatalf("Replay = %d, %v; want 0 and an unroutable error", moved, err)
	}
	if got := srv.depth(q.ErrorQueue()); got != 1 {
		t.Fatalf("error queue holds %d, want the dead letter kept", got)
	}
}
