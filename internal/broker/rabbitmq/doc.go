// Package rabbitmq is the RabbitMQ backend of the broker contracts, built on
// amqp091-go.
//
// New dials the server, declares the topology (durable exchanges and queues,
// bindings, and every queue's error queue bound to the error exchange) and
// opens a pool of publisher channels in confirm mode. Publish pipelines
// persistent, mandatory messages over that pool, each channel holding at most
// Config.ConfirmWindow unconfirmed messages, and returns once every message
// is confirmed; a message no queue takes comes back as broker.ErrUnroutable.
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
