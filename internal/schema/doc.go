// Package schema declares every table once — columns, types, order key,
// partition, and where each column's value comes from — and renders the
// declarations to each SQL dialect (ClickHouse, PostgreSQL, DuckDB). It maps
// decoded messages to rows in a table's column order, converting values to
// the column types and naming the column at fault when one does not fit.
package schema
