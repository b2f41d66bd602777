package rabbitmq

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/broker/brokertest"
)

// body660 is the size of a typical event batch message of the seed system.
var body660 = make([]byte, 660)

// BenchmarkPublishConfirm publishes 660-byte messages from many goroutines
// (GOMAXPROCS·8), each Publish call carrying `batch` messages, and reports
// confirmed messages per second.
func BenchmarkPublishConfirm(b *testing.B) {
	for _, batch := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			top := testTopology(b, "a")
			br, _ := newBroker(b, top)
			ex := top.Exchanges[0].Name
			b.SetParallelism(8)
			b.SetBytes(int64(len(body660)))
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				msgs := make([]broker.Message, 0, batch)
				flush := func() {
					if len(msgs) == 0 {
						return
					}
					if err := br.Publish(context.Background(), ex, msgs); err != nil {
						b.Error(err)
					}
					msgs = msgs[:0]
				}
				for pb.Next() {
					msgs = append(msgs, broker.Message{RoutingKey: "a.bench", Body: body660})
					if len(msgs) == batch {
						flush()
					}
				}
				flush()
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

// BenchmarkConsumeBatch consumes b.N pre-published 660-byte messages with
// two consumers, prefetch 1000 and batches of up to 500 acked with one
// multiple ack, and reports messages per second.
func BenchmarkConsumeBatch(b *testing.B) {
	top := testTopology(b, "a")
	q := top.Queues[0]
	q.Consumers, q.Prefetch = 2, 1000
	q.Batch.MaxMessages, q.Batch.MaxWait = 500, 20*time.Millisecond
	br, _ := newBroker(b, top)
	ex := top.Exchanges[0].Name
	const chunk = 1000
	for sent := 0; sent < b.N; sent += chunk {
		n := min(chunk, b.N-sent)
		msgs := make([]broker.Message, n)
		for i := range msgs {
			msgs[i] = broker.Message{RoutingKey: "a.bench", Body: body660}
		}
		if err := br.Publish(context.Background(), ex, msgs); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(body660)))
	b.ResetTimer()
	elapsed := brokertest.ConsumeAll(b, br, q)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}
