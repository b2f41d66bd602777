// Package consume turns a queue's deliveries into table rows and writes
// them: decode → map to rows (schema) → one Write per table per batch → the
// broker acks only after every table of the queue committed. A message that
// cannot be decoded or mapped, or whose rows the database refused for their
// data, fails alone (retry count, then the error queue); a database outage
// fails the whole batch transiently, so the broker holds it and no retry
// budget is spent.
package consume
