// Package sink holds the contract every storage backend meets: write one
// columnar batch (schema.Batch) to its table as one operation, idempotently (rows dedupe on
// the table's key), and say which rows failed when only some did (fault.Partial). It also
// holds Coalescer, the one writer per table that gathers every caller's
// rows into large inserts (each caller still learns its own rows' fate),
// and what the SQL backends share: Isolate (finding the rows a database
// refuses by writing halves), Metrics (a sink's own partial-write count),
// and Observer, the metrics decorator that counts and times every write
// once (eventgrpc_sink_rows_stored_total and its kin), applied where the
// service builds its sinks: no sink and no caller counts writes itself.
// The read-only check of the query endpoint is internal/query's.
package sink
