// Package rabbitmq is the RabbitMQ backend of the broker contracts, built on
// amqp091-go.
//
// New dials the server, declares the topology (durable exchanges and queues,
// bindings, and every queue's error queue bound to the error exchange) and
// opens a pool of publisher channels in confirm mode. Publish pipelines
// persistent, mandatory messages over that pool, each channel holding at most
// Config.ConfirmWindow unconfirmed messages, and returns once every message
// is confirmed; a message no queue takes comes back as broker.ErrUnroutable.
// Consume runs a queue's consumers, each on its own channel with the queue's
// prefetch, hands batches to the handler and acks each batch with one
// multiple ack; failed messages are republished to their own queue with
// x-retry-count raised, or to the error exchange once the queue's retries
// are spent.
//
// A lost connection is re-established in the background with backoff: the
// topology is declared again, the publisher channels reopened and every
// consumer resumed. While it is down Ready reports false and Publish fails
// at once with broker.ErrUnavailable.
//
// Locks: pubChannel.sendMu (serialises one channel's publishes, the only
// lock held across a network write) before pubChannel.mu (its pending
// confirms). Broker.mu guards the current session and is never held while
// taking another lock or waiting on the network. The goroutine that
// resolves a channel's confirms takes only pubChannel.mu, so a publisher
// stuck in a write never stalls the connection's reader.
package rabbitmq
