package broker

import (
	"context"
	"fmt"
)

// QueueRouter is the optional capability of a transport that can route at
// publish time, as JetStream does (one subject per queue) and RabbitMQ does
// for exchanges no outside consumer reads (straight into each queue): the
// publisher may resolve the queues itself and pack events per destination
// queue, so one message carries every event of a request that goes to that
// queue whatever their types.
type QueueRouter interface {
	// Packs reports whether messages for exchange may be packed per queue
	// (PublishToQueues). False: the exchange is read by consumers outside
	// the topology that bind on the routing key, so its messages must keep
	// one event type each with the type as routing key, and go through
	// Publish. Safe for concurrent use; does no I/O.
	Packs(exchange string) bool
	// Queues returns the queues a message published to exchange with
	// routingKey reaches, in the topology's order; nil when none
	// (unroutable). The result must not be modified. Safe for concurrent
	// use; does no I/O.
	Queues(exchange, routingKey string) []string
	// PublishToQueues stores msgs[i] in queues[i] only (no further
	// routing), with exchange recorded as its origin, and returns as
	// Publish does: nil only after every message was durably accepted, or
	// a *PublishError naming those that were not. Safe for concurrent use;
	// honours ctx.
	PublishToQueues(ctx context.Context, exchange string, queues []string, msgs []Message) error
}

// Limits is the optional capability of a transport that knows the largest
// message its server takes.
type Limits interface {
	// MaxMessageBytes is the largest body a message may have (headers
	// accounted for by the transport), read from the server where it says.
	MaxMessageBytes() int
}

// MaxShortString is the longest AMQP short string (routing keys, exchange
// names, message ids, header names): a longer one cannot be framed, and
// amqp091 closes the whole connection over it.
const MaxShortString = 255

// CheckShortString returns an error naming field when s is longer than an
// AMQP short string may be.
func CheckShortString(field, s string) error {
	if len(s) > MaxShortString {
		return fmt.Errorf("%s is %d bytes; the broker's limit is %d (AMQP short string)", field, len(s), MaxShortString)
	}
	return nil
}
