// Package landing lands a queue's batches in the stores. Its Handler
// (consume.go, decode.go) turns a queue's deliveries into table
// rows and writes them: decode (event.Decode, or JSON objects) → map into
// columnar batches (schema.Mapper, compiled once per table) → one
// sink.Write per table per batch (or, for a sink.Submitter, the rows
// handed to the table's one writer, which inserts the rows of many
// batches at once) → the broker acks only after every table of the queue
// committed. A message that cannot be decoded or mapped, or whose rows the
// database refused for their data, fails alone (retry count, then the error
// queue); a database outage fails the whole batch transiently, so the
// delivery policy (internal/consume) holds it and no retry budget is
// spent. Each event's type (and its metric label) comes from the event,
// never from the routing key: one message may hold several types.
//
// budget.go bounds the bytes a sink's batches hold while they are decoded
// and written (LANDING_MAX_INFLIGHT_BYTES), taken before decoding; label.go
// names the metric label of each event type.
package landing
