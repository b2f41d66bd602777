// Package pipeline is the ingest stage between the servers and the broker:
// a bounded worker pool that validates each event of a request, groups the
// accepted ones by type, clamps future timestamps, mints missing event ids
// (UUIDv7), stamps the insert time, and publishes each group — coalesced
// with the same type's events from concurrent requests for a short linger —
// waiting for the broker's durable confirm before it answers.
//
// Wire form of a broker message: a sequence of size-delimited
// eventgrpc.v1.Events (protodelim), each the events of one type from one
// request with that request's Header. Header x-insert-time carries the
// ingest time in epoch milliseconds.
package pipeline
