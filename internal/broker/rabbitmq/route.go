package rabbitmq

import (
	"context"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
)

var _ broker.QueueRouter = (*Broker)(nil)

// Packs implements broker.QueueRouter: the service routes messages for an
// exchange of the topology itself, unless the exchange is typed (read by
// consumers outside the topology: Exchange.Typed or
// Config.TypedExchanges). An exchange the topology does not declare is
// routed by the server, since only the server knows its bindings.
func (b *Broker) Packs(exchange string) bool {
	return b.packed[exchange]
}

// Queues implements broker.QueueRouter: the topology's bindings decide, as
// the server would route a message published to exchange with
// routingKey.
func (b *Broker) Queues(exchange, routingKey string) []string {
	if b.cfg.Topology == nil {
		return nil
	}
	return b.cfg.Topology.Routes(exchange, routingKey)
}

// PublishToQueues implements broker.QueueRouter: msgs[i] goes through the
// default exchange with queues[i] as routing key, so into that queue only,
// persistent and mandatory (a queue that is gone makes it
// broker.ErrUnroutable), and carries exchange and its routing key in the
// x-original-exchange and x-original-routing-key headers, which consumers
// read as the delivery's origin, as they do for a retried copy. It returns
// as Publish does.
func (b *Broker) PublishToQueues(ctx context.Context, exchange string, queues []string, msgs []broker.Message) error {
	if len(queues) != len(msgs) {
		return fault.Permanent(fmt.Errorf("rabbitmq: publish to queues: %d queues for %d messages", len(queues), len(msgs)))
	}
	return b.publishEach(ctx, msgs, func(i int, m broker.Message) (string, string, amqp.Table) {
		h := headersToTable(m.Headers)
		if h == nil {
			h = make(amqp.Table, 2)
		}
		h[broker.HeaderOriginalExchange] = exchange
		h[broker.HeaderOriginalRoutingKey] = m.RoutingKey
		return "", queues[i], h
	})
}
