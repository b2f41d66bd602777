// Package query is the read-only query endpoint's own part: the contract a
// store meets to answer it (Querier), the lexical check that lets through
// one query statement and nothing else (Syntax, per SQL dialect), and the
// bounds of a result (MaxResultBytes, ResultBudget). Running a statement
// stays with each store (internal/sink/{duckdb,clickhouse,postgres}), under
// its engine's own read-only guards; this package is the first line of
// defence and imports nothing but fault.
package query
