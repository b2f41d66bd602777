package schema

import (
	"fmt"
	"strings"
)

// Postgres renders declarations for PostgreSQL (11 and later). Every column
// is NOT NULL (absent values take the type's zero, see Zero); the table's
// primary key is its UniqueKey, which the sink's
// `INSERT … ON CONFLICT (key)` dedupes on. PartitionBy is not rendered:
// the transactional tables are small enough to stay unpartitioned.
var Postgres Dialect = postgres{}

type postgres struct{}

func (postgres) Name() string { return "postgres" }

func (postgres) ColumnType(t Type) string {
	switch t {
	case Int32:
		return "integer"
	case Int64:
		return "bigint"
	case Float64:
		return "double precision"
	case Bool:
		return "boolean"
	case DateTime:
		return "timestamptz"
	case Date:
		return "date"
	case JSON:
		return "jsonb"
	case Strings:
		return "text[]"
	}
	return "text"
}

func (d postgres) CreateTable(t *Table, qualified string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s (\n", qualified)
	for _, c := range t.Columns {
		fmt.Fprintf(&b, "  %s %s NOT NULL,\n", QuoteIdent(c.Name), d.ColumnType(c.Type))
	}
	fmt.Fprintf(&b, "  PRIMARY KEY (%s)\n)", joinIdents(t.UniqueKey()))
	return b.String()
}

// AddColumn adds c with a default so that existing rows satisfy NOT NULL.
func (d postgres) AddColumn(qualified string, c Column) string {
	return fmt.Sprintf("ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s %s NOT NULL DEFAULT %s",
		qualified, QuoteIdent(c.Name), d.ColumnType(c.Type), PostgresZero(c.Type))
}

// PostgresZero is the SQL literal of a type's zero value (Zero) in
// PostgreSQL: the default of added columns, and what a versioned upsert
// treats as "no value" (see the postgres sink).
func PostgresZero(t Type) string {
	switch t {
	case Int32, Int64, Float64:
		return "0"
	case Bool:
		return "false"
	case DateTime:
		return "'1970-01-01 00:00:00+00'"
	case Date:
		return "'1970-01-01'"
	case JSON:
		return "'{}'::jsonb"
	case Strings:
		return "'{}'::text[]"
	}
	return "''"
}

// Qualify quotes and joins a database (or schema) and a table name:
// Qualify("db", "t") is `"db"."t"`; an empty database gives `"t"`.
func Qualify(database, table string) string {
	if database == "" {
		return QuoteIdent(table)
	}
	return QuoteIdent(database) + "." + QuoteIdent(table)
}
