package schema

import "strings"

// Dialect renders declarations to one SQL dialect.
type Dialect interface {
	// Name is the dialect's name, e.g. "duckdb".
	Name() string
	// CreateTable returns the statement that creates t if it is missing.
	// qualified is the table's name as the dialect should write it
	// (database- or schema-qualified, quoted).
	CreateTable(t *Table, qualified string) string
	// AddColumn returns the statement that adds c to the table if missing.
	AddColumn(qualified string, c Column) string
	// ColumnType spells a portable type.
	ColumnType(t Type) string
}

// QuoteIdent double-quotes an identifier (PostgreSQL and DuckDB style).
func QuoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

func joinIdents(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = QuoteIdent(n)
	}
	return strings.Join(q, ", ")
}
