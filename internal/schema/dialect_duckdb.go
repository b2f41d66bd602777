package schema

import (
	"fmt"
	"strings"
)

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

// sqlDefault is the literal a newly added DuckDB column takes in existing
// rows.
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
