// Package jetstream is the broker backend on NATS JetStream: the zero-setup
// default, with a NATS server embedded in the process (store in a data
// directory, no network listener), or a client of an external NATS server
// or cluster (server 2.9 or later).
//
// # How the topology maps to JetStream
//
// RabbitMQ routes a message when it is published: the exchange copies it
// into every queue whose binding matches the routing key. This backend
// does the same on the publishing side, with topology.Routes, and stores
// one copy per queue:
//
//   - One stream (Config.Stream, default EVENTGRPC) holds every queue. Its
//     subjects are "<stream>.q.>"; file storage; work-queue retention (a
//     copy is deleted once its queue acked it, and kept as long as it has
//     not); Discard New with MaxBytes, so a full store refuses publishes
//     (broker.ErrOverloaded) instead of dropping old messages; a two-minute
//     duplicate window for the Nats-Msg-Id header.
//   - A queue Q is the subject "<stream>.q.<token(Q)>" and a durable pull
//     consumer named token(Q) that filters on it, where token replaces
//     every character other than letters, digits, '-' and '_' with '_'.
//     Two queue names with the same token are refused by New. The
//     consumer acks explicitly; MaxAckPending is Prefetch × Consumers
//     (shared by every process consuming the queue; each pull loop holds
//     at most one batch of Batch.MaxMessages anyway);
//     AckWait is Config.AckWait and a consumer extends it (in progress)
//     while its handler runs or backs off.
//   - Each queue's error queue "Q.error" is the same: subject and durable
//     consumer for token("Q.error"). Nobody consumes it by itself; it holds
//     the dead letters that Peek and Replay (`event-grpc dlq`) read.
//   - Publish(E, msgs) looks up the queues E routes each message's routing
//     key to (topic `*`/`#`, direct, fanout: topology.Match); a message that
//     reaches none fails with broker.ErrUnroutable — the `mandatory` flag of
//     RabbitMQ. Each copy carries the publisher's headers plus x-exchange,
//     x-routing-key and x-content-type (removed again from
//     Delivery.Headers), and Nats-Msg-Id = "<Message.ID>|<queue token>"
//     when the message has an ID, so a publisher's retry is de-duplicated.
//   - A retry is a copy republished to the queue's own subject with
//     broker.RetryHeaders; a dead letter is a copy published to the error
//     exchange with the queue's name as routing key, which reaches its
//     error queue, with broker.DeadLetterHeaders. Both carry a Nats-Msg-Id
//     made of the original's stream sequence, and the original is acked only
//     after the copy is stored.
//
// Why per-queue subjects rather than one subject per exchange and routing
// key with consumers filtering on the bindings: a queue with several
// bindings needs a consumer with several filter subjects, which NATS
// servers before 2.10 do not have (the external server on the development
// machine is 2.9), and a consumer's filter could not include its own retry
// subject either. Routing at publish time works on every server, gives
// each consumer one literal filter, and matches RabbitMQ: a queue gets the
// messages published after it was declared, and one queue's retries and
// replays never reach another. The cost is one stored copy per queue a
// message reaches.
//
// # Consuming
//
// Consume runs q.Consumers pull loops. Each waits up to a second for a first
// message (so an idle queue costs one request a second per loop), then
// gathers the rest of the batch for up to q.Batch.MaxWait, hands it to the
// handler, and settles it (acks, retries, dead letters; acks are flushed to
// the server) before it fetches again: a loop never holds more than one
// batch. A transient handler error holds the batch and hands it again
// after backoff.Default; when the consumer stops, held and freshly fetched
// messages are given back (nak) for immediate redelivery.
//
// # Dead letters
//
// Peek reads a queue's subject straight from the stream (message get by
// subject, from the consumer's ack floor), so it neither takes nor delays
// anything. Replay fetches from the error queue's consumer, stores each
// dead letter again in the queue it failed in, with x-retry-count 0 and
// its original exchange and routing key, and acks the dead letter only
// after that copy is stored. Unlike a RabbitMQ republish to the exchange,
// the other queues the message was first routed to do not get it again.
//
// # Metrics
//
// eventgrpc_jetstream_published_messages_total, _published_bytes_total
// (by exchange), _publish_errors_total (by kind), and by queue
// _consumed_messages_total, _acked_messages_total, _ack_errors_total,
// _retried_messages_total, _dead_lettered_messages_total,
// _handler_transient_failures_total, _replayed_messages_total.
package jetstream
