package schema

import (
	"fmt"
	"strings"
)

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

// DuckDB is the embedded store's dialect.
var DuckDB Dialect = duckDB{}

type duckDB struct{}

func (duckDB) Name() string { return "duckdb" }

func (d duckDB) ColumnType(t Type) string {
	switch t {
	case Int32:
		return "INTEGER"
	case Int64:
		return "BIGINT"
	case Float64:
		return "DOUBLE"
	case Bool:
		return "BOOLEAN"
	case DateTime:
		return "TIMESTAMP"
	case Date:
		return "DATE"
	case Strings:
		return "VARCHAR[]"
	}
	return "VARCHAR" // String, JSON
}

func (d duckDB) CreateTable(t *Table, qualified string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s (\n", qualified)
	for _, c := range t.Columns {
		fmt.Fprintf(&b, "  %s %s NOT NULL,\n", QuoteIdent(c.Name), d.ColumnType(c.Type))
	}
	fmt.Fprintf(&b, "  PRIMARY KEY (%s)\n)", joinIdents(t.UniqueKey()))
	return b.String()
}

func (d duckDB) AddColumn(qualified string, c Column) string {
	return fmt.Sprintf("ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s %s DEFAULT %s",
		qualified, QuoteIdent(c.Name), d.ColumnType(c.Type), sqlDefault(c.Type))
}

// sqlDefault is the literal a newly added column takes in existing rows.
func sqlDefault(t Type) string {
	switch t {
	case Int32, Int64, Float64:
		return "0"
	case Bool:
		return "false"
	case DateTime:
		return "'1970-01-01 00:00:00'"
	case Date:
		return "'1970-01-01'"
	case JSON:
		return "'{}'"
	case Strings:
		return "[]"
	}
	return "''"
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
