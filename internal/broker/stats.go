package broker

import (
	"context"
	"time"
)

// QueueStat is one queue's state as the broker reports it now.
type QueueStat struct {
	Queue string `json:"queue"`
	// Messages waiting or being handled.
	Messages int64 `json:"messages"`
	// Unacked are delivered and not yet settled (-1: the broker does not say).
	Unacked int64 `json:"unacked"`
	// Consumers attached (JetStream: pull requests waiting, since a
	// durable consumer is one server-side object that many fetchers share).
	Consumers int `json:"consumers"`
	// OldestAge is how long the head message has waited; 0 when empty,
	// -1 when the broker cannot tell.
	OldestAge time.Duration `json:"oldest_age_ns"`
	// ErrorQueue marks a dead-letter queue; Of names the queue it serves.
	ErrorQueue bool   `json:"error_queue"`
	Of         string `json:"of,omitempty"`
	// Bytes are the message bodies the queue holds (-1: the broker does
	// not say; RabbitMQ over AMQP does not). MaxBytes is the queue's
	// byte bound, past which publishes are refused (work queues) or the
	// oldest dropped (error queues); 0 when unknown.
	Bytes    int64 `json:"bytes"`
	MaxBytes int64 `json:"max_bytes"`
}

// QueueStats is the optional capability behind the status page's queue
// table and the eventgrpc_queue_* gauges.
type QueueStats interface {
	// Stats reports every queue and error queue of the topology. It is
	// read-only and cheap enough to call every few seconds; safe for
	// concurrent use. An error means the broker could not be asked now.
	Stats(ctx context.Context) ([]QueueStat, error)
}
