package query

import (
	"context"
	"strings"
)

// Querier is the optional capability of a store behind the read-only
// query endpoint. Each SQL sink implements it with its own engine's guards
// behind this package's lexical check (Syntax.Statement).
type Querier interface {
	// Query runs one read-only statement and returns its rows as strings
	// (NULL as `\N`), with the column names. Statements that are not
	// queries are refused with a permanent error; a result over maxRows
	// rows (0: no limit) or MaxResultBytes bytes is refused, never cut.
	// Safe for concurrent use.
	Query(ctx context.Context, sql string, maxRows int) (columns []string, rows [][]string, err error)
}

// Escape writes a value's text as the query endpoint shows it: tabs,
// newlines and backslashes escaped (as clickhouse-client's and psql's TSV
// output does), so that `\N` stays NULL's alone.
func Escape(s string) string {
	return escaper.Replace(s)
}

var escaper = strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`)
