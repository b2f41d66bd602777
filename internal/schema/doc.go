// Package schema declares every table once — columns, types, order key,
// partition, and where each column's value comes from — and renders the
// declarations to each SQL dialect (ClickHouse, PostgreSQL, DuckDB).
//
// Rows are columnar: a Batch holds one typed slice per column, reused from
// batch to batch. A Mapper, compiled once per table at start from the
// columns' From paths (CompileEvents for event tables, CompileJSON for
// JSON-fed ones), appends one source's row to a Batch: the per-row path
// parses no path, boxes no value into any (on the events path), walks no
// protoreflect and calls no protojson; a value that does not fit fails with
// a *ColumnError naming the column, and appends nothing.
//
// The row-at-a-time form (Map, Source, Row) lives in package schematest,
// as the oracle tests compare the compiled rows with; no production code
// maps rows one boxed value at a time.
package schema
