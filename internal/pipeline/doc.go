// Package pipeline is the ingest stage between the servers and the broker.
// One file per concern: validate.go checks each event (typed reasons),
// clamps future timestamps and mints missing event ids (UUIDv7); group.go
// encodes the accepted events once and cuts them into chunks per
// destination, each small enough for one broker message; ids.go scopes
// ids to their sender (the authenticated client id becomes
// Header.clientId), digests each event's content and derives the ids of
// id-less events from an idempotency key (docs/ids.md); dedupe.go claims
// and settles ids by (sender, id) and digest; publish.go coalesces the chunks of
// concurrent requests per destination for a short linger and publishes
// them, waiting for the broker's durable confirm before the reply.
//
// A destination is a queue when the broker routes the exchange at publish
// time (broker.QueueRouter.Packs: JetStream always; RabbitMQ for every
// exchange of the topology not marked typed), so one message carries every
// event of a request bound for that queue whatever their types; otherwise
// (a typed RabbitMQ exchange, which consumers outside the topology bind by
// type) a routing key. Messages are bounded in
// events (PUBLISH_MAX_EVENTS) and bytes (PUBLISH_MAX_BYTES and the
// broker's broker.Limits); an event too large for any message is rejected
// by index. No goroutine per group or message: the worker that opens a
// message publishes it when the linger ends, and a worker publishes what it
// flushes in one Publish call. Metrics are counted per request and type.
//
// Wire form of a broker message (the contract with the consumers): a
// sequence of size-delimited eventgrpc.v1.Events (protodelim), each some
// events of one request with that request's Header. One message may carry
// events of several types; a consumer takes each event's type from the
// event itself (its eventOf), never from the routing key, which is empty
// for a mixed message. Header x-insert-time carries the ingest time in
// epoch milliseconds.
package pipeline
