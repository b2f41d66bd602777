// Package rabbitmq is the RabbitMQ backend of the broker contracts, built on
// amqp091-go.
//
// New builds a Broker without I/O; Start dials the server, declares the
// topology (durable exchanges and queues, bindings, and every queue's error
// queue bound to the error exchange) and opens a pool of publisher channels
// in confirm mode (a server down at Start is not an error: the broker is
// not ready and connects with backoff; a refused topology fails Start). Publish pipelines
// persistent, mandatory messages over that pool, each channel holding at most
// Config.ConfirmWindow unconfirmed messages, and returns once every message
// is confirmed; a message no queue takes comes back as broker.ErrUnroutable.
//
// Packing (broker.QueueRouter). For an exchange of the topology, the
// service knows every queue a routing key reaches (Topology.Routes), so the
// pipeline packs a request's events — and, for PUBLISH_LINGER, concurrent
// requests' — per destination queue, and PublishToQueues stores each
// packed message straight in its queue: through the default exchange with
// the queue's name as routing key (no binding involved, none to declare,
// so an upgrade declares nothing new), mandatory and confirmed like any
// publish, with x-original-exchange and x-original-routing-key headers
// (the type, or empty for a mixed message) that a consumer reads as the
// delivery's origin. Retries (back into the queue by name), dead letters
// (error exchange, x-original-queue) and replays (into x-original-queue)
// are unchanged. The exchange's bindings stay declared: they route what
// other services publish to it, and messages already in the queues, typed
// by routing key, are consumed as before (a consumer takes each event's
// type from the event itself).
//
// What a consumer outside the topology sees: a queue it binds to such a
// packed exchange receives none of the service's events. An exchange that
// outside consumers read is named typed (Config.TypedExchanges, from
// RABBIT_TYPED_EXCHANGES, or `typed: true` on the exchange in the
// topology): the service publishes to it one message per event type with
// the type as routing key (concurrent requests' events of a type share a
// message), routed by the server's bindings, so a queue bound to
// grpc_event.tx with key LaunchEvent receives exactly the LaunchEvents,
// and the service's own queues receive them through their bindings as
// before — at about ten times the broker messages of packing.
// Subscribe opens a consumer on a channel of its own with the queue's
// prefetch (declaring the queue again if it was deleted under the running
// service); Fetch takes deliveries from its buffer, Settle acks or nacks
// them (one multiple ack for the oldest unsettled ones) and Republish sends
// copies, with the headers it is given, to the queue itself (default
// exchange) or to the error exchange. It is a transport only: the delivery
// policy (batching, hold, retry count, dead letter) is internal/consume's.
//
// A lost connection is re-established in the background with backoff: the
// topology is declared again and the publisher channels reopened; a lost
// subscription reports broker.ErrLost and the consume runner opens a new
// one. While it is down Ready reports false and Publish fails
// at once with broker.ErrUnavailable.
//
// Locks: pubChannel.sendMu (serialises one channel's publishes, the only
// lock held across a network write) before pubChannel.mu (its pending
// confirms). Broker.mu guards the current session and is never held while
// taking another lock or waiting on the network. The goroutine that
// resolves a channel's confirms takes only pubChannel.mu, so a publisher
// stuck in a write never stalls the connection's reader.
package rabbitmq
