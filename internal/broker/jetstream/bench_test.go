package jetstream_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/broker/brokertest"
	"github.com/event-grpc/event-grpc/internal/broker/jetstream"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// benchBody is the size of a typical message (a small batch of events).
var benchBody = make([]byte, 600)

// benchTopology has a topic exchange "ev.tx" with one queue, "clicks"
// (Click), consumed by two consumers, and the error exchange.
func benchTopology(b *testing.B) *topology.Topology {
	b.Helper()
	return parseTopology(b, `
queues:
  - name: clicks
    bindings: [{exchange: ev.tx, key: Click}]
    consumers: 2
    handler: webengage
`)
}

func benchBroker(b *testing.B) (*jetstream.Broker, *topology.Topology) {
	b.Helper()
	top := benchTopology(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	br, err := jetstream.New(jetstream.Config{DataDir: b.TempDir(), Topology: top})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = br.Close(context.Background()) })
	if err := br.Start(ctx); err != nil {
		b.Fatal(err)
	}
	return br, top
}

func publishN(b *testing.B, br *jetstream.Broker, n, batch int) {
	b.Helper()
	msgs := make([]broker.Message, batch)
	for i := range msgs {
		msgs[i] = broker.Message{RoutingKey: "Click", Body: benchBody}
	}
	for done := 0; done < n; done += batch {
		if err := br.Publish(context.Background(), "ev.tx", msgs[:min(batch, n-done)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPublish measures confirmed publishing of 600-byte messages in
// calls of 100 (one op = one message).
func BenchmarkPublish(b *testing.B) {
	br, _ := benchBroker(b)
	b.SetBytes(int64(len(benchBody)))
	b.ResetTimer()
	publishN(b, br, b.N, 100)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}

// BenchmarkConsume measures consuming and acking with the default batch
// policy (500 messages, two consumers); one op = one message.
func BenchmarkConsume(b *testing.B) {
	br, top := benchBroker(b)
	publishN(b, br, b.N, 500)
	b.ResetTimer()
	brokertest.ConsumeAll(b, br, top.Queues[0])
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}

// BenchmarkPublishExternal is BenchmarkPublish against the external server,
// on a stream of its own that is deleted afterwards.
func BenchmarkPublishExternal(b *testing.B) {
	top := benchTopology(b)
	stream := fmt.Sprintf("BENCH_%08x", rand.Uint32())
	br, err := jetstream.New(jetstream.Config{URL: externalURL, Stream: stream, Topology: top})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = br.Close(context.Background())
		deleteStream(b, stream)
	})
	if err := br.Start(context.Background()); err != nil || !br.Ready() {
		b.Fatalf("Start: %v (%v)", err, br.NotReady())
	}
	b.SetBytes(int64(len(benchBody)))
	b.ResetTimer()
	publishN(b, br, b.N, 100)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}
