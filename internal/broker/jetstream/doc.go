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
//   - Each queue Q, and each error queue, has a stream of its own,
//     "<stream>_<token(Q)>" (Config.Stream is the prefix, default
//     EVENTGRPC), holding the one subject "<stream>.q.<token(Q)>"; file
//     storage; work-queue retention (a copy is deleted once its queue acked
//     it, and kept as long as it has not); a two-minute duplicate window
//     for the Nats-Msg-Id header. A queue's stream has Discard New with the
//     queue's MaxBytes (topology max_bytes, else Config.MaxBytes, 1 GiB),
//     so a full queue refuses publishes (broker.ErrOverloaded) for itself
//     alone instead of dropping old messages or filling a store that
//     other queues share. An error queue's stream keeps at most
//     topology.DefaultDeadLetterMaxBytes for topology.DefaultDeadLetterMaxAge
//     and drops its oldest dead letters first (Discard Old), as RabbitMQ's
//     error queues do (x-overflow drop-head, x-message-ttl).
//   - A data directory or server that still has the single stream of
//     earlier versions (Config.Stream itself, subjects "<stream>.q.>") is
//     migrated by Start: the stream is moved to subjects nobody publishes
//     to, each of its messages is stored in its queue's stream and only
//     then deleted from it, and the emptied stream is deleted. A crash in
//     between resumes at the next start.
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
//   - Subscription.Republish stores a copy, with the headers the consume
//     runner gives it, either in the queue's own subject (with the original
//     exchange and routing key) or in its error queue's subject (with the
//     error exchange and the queue's name as key). Each carries a
//     Nats-Msg-Id made of the original's stream sequence, so storing it
//     twice is de-duplicated.
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
// The backend is a transport (broker.Transport): Subscribe looks up the
// queue's durable consumer (declaring it, or the queue's stream, again if
// it is gone); Fetch pulls up to N messages with a byte budget, waiting up to
// the given time; Settle acks (flushed to the server), naks (with a delay,
// if any) or marks in progress; in-flight messages are kept alive every
// third of the ack wait until settled, and given back (nak) on Close. The
// delivery policy — batching, hold with backoff, retry count, dead letter —
// is internal/consume's runner, the same for every backend.
//
// # Dead letters
//
// Peek reads a queue's subject straight from its stream (message get by
// subject, from the consumer's ack floor), so it neither takes nor delays
// anything. Replay fetches from the error queue's consumer, stores each
// dead letter again in the queue it failed in, with x-retry-count 0 and
// its original exchange and routing key, and acks the dead letter only
// after that copy is stored. One call moves at most broker.MaxReplay, and
// only dead letters stored before it began. Unlike a RabbitMQ republish to the exchange,
// the other queues the message was first routed to do not get it again.
//
// # Metrics
//
// eventgrpc_jetstream_published_messages_total, _published_bytes_total
// (by exchange), _publish_errors_total (by kind), and by queue
// _consumed_messages_total, _acked_messages_total, _ack_errors_total,
// _consumers_redeclared_total, _replayed_messages_total. Retries, dead
// letters and held batches are counted by the consume runner
// (eventgrpc_consume_*).
package jetstream
