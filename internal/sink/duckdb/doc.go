// Package duckdb is the embedded store: one DuckDB file under DATA_DIR, no
// server. Batches go through the Appender into a per-table staging table and
// then, set-based, into the table with ON CONFLICT DO NOTHING on the table's
// key, so a redelivered batch never makes a second row.
package duckdb
