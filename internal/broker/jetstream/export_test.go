package jetstream

import (
	"context"
	"fmt"
	"time"
)

// DeleteQueueConsumer deletes queue's durable consumer on the server, as an
// operator would with `nats consumer rm`.
func DeleteQueueConsumer(b *Broker, queue string) error {
	n, ok := b.names.byQueue[queue]
	if !ok {
		return fmt.Errorf("%q is not a queue of the topology", queue)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return b.js.DeleteConsumer(ctx, n.stream, n.durable)
}

// StreamName is the name of queue's stream on the server.
func StreamName(b *Broker, queue string) string { return b.names.byQueue[queue].stream }
