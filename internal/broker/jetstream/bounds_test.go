package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/broker/jetstream"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// boundedClicks is an embedded broker on testTopology whose clicks queue
// is bounded to 64 KiB, and a message body of 8 KiB.
func boundedClicks(t *testing.T) (*jetstream.Broker, *topology.Topology, []byte) {
	t.Helper()
	top := testTopology(t, func(top *topology.Topology) { top.Queues[1].MaxBytes = 64 << 10 })
	b := embedded(t, jetstream.Config{Topology: top, ListenPort: -1})
	return b, top, []byte(strings.Repeat("c", 8<<10))
}

// TestFullQueueRefusesOnlyItself: each queue has a stream of its own,
// bounded for itself. A queue nothing drains fills up and refuses its own
// publishes (ErrOverloaded, for that message only), while every other
// queue goes on taking messages; error queues keep dead letters for a
// bounded age and size, dropping the oldest first.
func TestFullQueueRefusesOnlyItself(t *testing.T) {
	b, _, body := boundedClicks(t)
	ctx := context.Background()
	var full error
	for i := range 64 { // 512 KiB offered to a 64 KiB queue
		err := b.PublishToQueues(ctx, "ev.tx", []string{"clicks"}, []broker.Message{{RoutingKey: "Click", Body: body, ID: fmt.Sprint("c", i)}})
		if err != nil {
			full = err
			break
		}
	}
	if !errors.Is(full, broker.ErrOverloaded) {
		t.Fatalf("publishing 512 KiB into a 64 KiB queue ended with %v, want ErrOverloaded", full)
	}
	// The other queue is not affected.
	for i := range 64 {
		if err := b.PublishToQueues(ctx, "ev.tx", []string{"all"}, []broker.Message{{RoutingKey: "Click", Body: body, ID: fmt.Sprint("a", i)}}); err != nil {
			t.Fatalf("publish %d to queue all while clicks is full: %v", i, err)
		}
	}
	n, _, err := b.Peek(ctx, "all", 0)
	if err != nil || n != 64 {
		t.Fatalf("queue all holds %d (%v), want 64", n, err)
	}

	js := jsClient(t, b)
	for _, tc := range []struct {
		queue    string
		maxBytes int64
		discard  natsjs.DiscardPolicy
		maxAge   time.Duration
	}{
		{"clicks", 64 << 10, natsjs.DiscardNew, 0},
		{"all", topology.DefaultQueueMaxBytes, natsjs.DiscardNew, 0},
		{"clicks.error", topology.DefaultDeadLetterMaxBytes, natsjs.DiscardOld, topology.DefaultDeadLetterMaxAge},
	} {
		s, err := js.Stream(ctx, jetstream.StreamName(b, tc.queue))
		if err != nil {
			t.Fatalf("stream of %s: %v", tc.queue, err)
		}
		c := s.CachedInfo().Config
		if c.MaxBytes != tc.maxBytes || c.Discard != tc.discard || c.MaxAge != tc.maxAge || len(c.Subjects) != 1 {
			t.Errorf("stream of %s: max_bytes=%d discard=%v max_age=%v subjects=%v, want %d %v %v and one subject",
				tc.queue, c.MaxBytes, c.Discard, c.MaxAge, c.Subjects, tc.maxBytes, tc.discard, tc.maxAge)
		}
	}
}

// TestLegacyStreamMigrated: a data directory from before each queue had
// its own stream (one stream "EVENTGRPC" holding "EVENTGRPC.q.>") still
// holds accepted, unconsumed messages. Starting on it moves every one of
// them into its queue's stream and deletes the old stream: nothing that
// was acknowledged to a client is left behind.
func TestLegacyStreamMigrated(t *testing.T) {
	top := testTopology(t, nil)
	dir := t.TempDir()
	ctx := context.Background()

	// Lay out the old layout by hand on the embedded server.
	first := newBroker(t, jetstream.Config{DataDir: dir, Topology: top, ListenPort: -1})
	nc, err := nats.Connect(first.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	js, _ := natsjs.New(nc)
	for _, q := range []string{"all", "all.error", "clicks", "clicks.error"} {
		if err := js.DeleteStream(ctx, jetstream.StreamName(first, q)); err != nil {
			t.Fatal(err)
		}
	}
	legacy, err := js.CreateStream(ctx, natsjs.StreamConfig{Name: jetstream.DefaultStream, Subjects: []string{jetstream.DefaultStream + ".q.>"},
		Retention: natsjs.WorkQueuePolicy, Storage: natsjs.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := legacy.CreateOrUpdateConsumer(ctx, natsjs.ConsumerConfig{Durable: "clicks", FilterSubject: jetstream.DefaultStream + ".q.clicks", AckPolicy: natsjs.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		subj := jetstream.DefaultStream + ".q.clicks"
		if i%3 == 0 {
			subj = jetstream.DefaultStream + ".q.all"
		}
		m := &nats.Msg{Subject: subj, Data: []byte(fmt.Sprint("old-", i)), Header: nats.Header{}}
		m.Header.Set("x-exchange", "ev.tx")
		m.Header.Set("x-routing-key", "Click")
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	nc.Close()
	closeBroker(t, first)

	b := embedded(t, jetstream.Config{DataDir: dir, Topology: top, ListenPort: -1})
	for q, want := range map[string]int{"clicks": 20, "all": 10} {
		n, sample, err := b.Peek(ctx, q, 100)
		if err != nil || n != want || len(sample) != want {
			t.Fatalf("after the migration %s holds %d (sample %d, %v), want %d", q, n, len(sample), err, want)
		}
		if !strings.HasPrefix(string(sample[0].Body), "old-") || sample[0].RoutingKey != "Click" {
			t.Fatalf("a migrated message of %s lost its body or routing key: %+v", q, sample[0])
		}
	}
	js2 := jsClient(t, b)
	if _, err := js2.Stream(ctx, jetstream.DefaultStream); !errors.Is(err, natsjs.ErrStreamNotFound) {
		t.Fatalf("the legacy stream after the migration: %v, want it deleted", err)
	}
}

// TestStreamBufferFullRefuses: a stream's buffer of publishes waiting to
// be stored is bounded (StreamBufferedBytes); a publish that does not fit
// is refused as overload, not queued and not taken as stored.
func TestStreamBufferFullRefuses(t *testing.T) {
	b := embedded(t, jetstream.Config{Topology: testTopology(t, nil), StreamBufferedBytes: 1024})
	ctx := context.Background()
	err := b.PublishToQueues(ctx, "ev.tx", []string{"all"}, []broker.Message{{RoutingKey: "Click", Body: []byte(strings.Repeat("c", 4<<10)), ID: "big"}})
	if !errors.Is(err, broker.ErrOverloaded) {
		t.Fatalf("a 4 KiB publish into a 1 KiB stream buffer: %v, want ErrOverloaded", err)
	}
	if err := b.PublishToQueues(ctx, "ev.tx", []string{"all"}, []broker.Message{{RoutingKey: "Click", Body: []byte("small"), ID: "small"}}); err != nil {
		t.Fatalf("a small publish that fits: %v", err)
	}
	if n, _, err := b.Peek(ctx, "all", 0); err != nil || n != 1 {
		t.Fatalf("queue all holds %d (%v), want only the publish that fitted", n, err)
	}
}
