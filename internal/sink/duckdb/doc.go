// Package duckdb is the embedded store: one DuckDB file under DATA_DIR, no
// server. A batch is appended straight into its table through the Appender;
// the table's primary key refuses a batch holding a row already stored (a
// redelivery), and such a batch goes the set-based way instead — a
// per-table staging table, then INSERT … ON CONFLICT DO NOTHING on the
// table's key — so a redelivered batch never makes a second row. The query
// endpoint's statements run on a reader connection under the engine's
// read-only guards (query.go), behind internal/query's lexical check.
package duckdb
