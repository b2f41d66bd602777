// Package consume is the landing half's consume stage.
//
// The delivery policy, written once for every broker transport, one concern
// per file: batch.go cuts a subscription's deliveries into batches (max
// messages, bytes, age); hold.go holds a batch whose handler failed
// transiently and hands it again with exponential backoff and jitter,
// spending no retry; retry.go reads x-retry-count and republishes a
// permanently failed message to its own queue with the count raised;
// deadletter.go sends it to the error exchange with x-error-reason and the
// x-original-* headers once its retries are spent; settle.go stores those
// copies (bounded tries, counted failures, never an ack without a confirmed
// copy) and acks; runner.go runs each queue's workers over a
// broker.Transport and opens lost subscriptions again; pipeline.go runs
// them without waiting for each batch's insert, when the queue's sink
// gathers many batches into one (sink.Submitter), settling each batch in
// order once its fate is known.
//
// The Handler (consume.go, decode.go) turns a queue's deliveries into table
// rows and writes them: decode (event.Decode, or JSON objects) → map into
// columnar batches (schema.Mapper, compiled once per table) → one
// sink.Write per table per batch (or, for a sink.Submitter, the rows
// handed to the table's one writer, which inserts the rows of many
// batches at once) → the broker acks only after every table of the queue
// committed. A message that cannot be decoded or mapped, or whose rows the
// database refused for their data, fails alone (retry count, then the error
// queue); a database outage fails the whole batch transiently, so the
// runner holds it and no retry budget is spent. Each event's type (and its
// metric label) comes from the event, never from the routing key: one
// message may hold several types.
package consume
