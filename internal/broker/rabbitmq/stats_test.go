package rabbitmq

import (
	"context"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/topology"
)

// Stats reports the ready messages of a queue and of its error queue, the
// head age of the error queue, and leaves every message in place.
func TestStats(t *testing.T) {
	top, b, _, srv := setup(t)
	q := top.Queues[0]
	deadLetter(t, b, top.Exchanges[0].Name, q, 4)
	publishN(t, b, top.Exchanges[0].Name, "a.wait", 3)
	eventually(t, 10*time.Second, "queued", func() bool { return srv.depth(q.Name) == 3 })
	time.Sleep(1100 * time.Millisecond) // AMQP timestamps have second resolution

	stats, err := b.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]int{}
	for i, s := range stats {
		byName[s.Queue] = i
	}
	main, dl := stats[byName[q.Name]], stats[byName[q.ErrorQueue()]]
	if main.Messages != 3 || main.ErrorQueue || main.OldestAge != -1 {
		t.Fatalf("queue stat = %+v, want 3 messages, age unknown (-1)", main)
	}
	if dl.Messages != 4 || !dl.ErrorQueue || dl.Of != q.Name || dl.OldestAge <= 0 || dl.OldestAge > time.Minute {
		t.Fatalf("error queue stat = %+v, want 4 dead letters of %s with a head age", dl, q.Name)
	}
	// AMQP does not say a queue's bytes; the cap is the declared bound.
	if main.Bytes != -1 || main.MaxBytes != q.QueueMaxBytes() || dl.Bytes != -1 || dl.MaxBytes != topology.DefaultDeadLetterMaxBytes {
		t.Fatalf("bytes/cap: queue %d/%d, error queue %d/%d", main.Bytes, main.MaxBytes, dl.Bytes, dl.MaxBytes)
	}
	if srv.depth(q.ErrorQueue()) != 4 || srv.depth(q.Name) != 3 {
		t.Fatal("Stats moved messages")
	}
}
