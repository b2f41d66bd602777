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

// spellings are, per portable Type, each dialect's word for it and the SQL
// literal of its zero (Zero) where a dialect needs one: the default an added
// column gives the existing rows.
var spellings = map[Type]spelling{
	// {ClickHouse, PostgreSQL, DuckDB, PostgreSQL zero, DuckDB zero}
	String:   {"String", "text", "VARCHAR", "''", "''"},
	Int32:    {"Int32", "integer", "INTEGER", "0", "0"},
	Int64:    {"Int64", "bigint", "BIGINT", "0", "0"},
	Float64:  {"Float64", "double precision", "DOUBLE", "0", "0"},
	Bool:     {"UInt8", "boolean", "BOOLEAN", "false", "false"},
	DateTime: {"DateTime", "timestamptz", "TIMESTAMP", "'1970-01-01 00:00:00+00'", "'1970-01-01 00:00:00'"},
	Date:     {"Date", "date", "DATE", "'1970-01-01'", "'1970-01-01'"},
	JSON:     {"String", "jsonb", "VARCHAR", "'{}'::jsonb", "'{}'"},
	Strings:  {"Array(String)", "text[]", "VARCHAR[]", "'{}'::text[]", "[]"},
}

type spelling struct {
	clickHouse, postgres, duckDB string
	postgresZero, duckDBZero     string
}

// spell returns the spellings of t; a type the table does not name is
// spelled as String.
func spell(t Type) spelling {
	if s, ok := spellings[t]; ok {
		return s
	}
	return spellings[String]
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

// keyedDialect renders declarations for the stores that enforce the unique
// key (PostgreSQL, DuckDB): every column NOT NULL, the table's UniqueKey as
// the primary key; an added column takes its type's zero in existing rows.
type keyedDialect struct {
	name string
	// spell picks the dialect's column type and zero literal of a type.
	spell func(spelling) (typ, zero string)
	// addNotNull declares an added column NOT NULL too.
	addNotNull bool
}

func (d keyedDialect) Name() string { return d.name }

func (d keyedDialect) ColumnType(t Type) string {
	typ, _ := d.spell(spell(t))
	return typ
}

func (d keyedDialect) CreateTable(t *Table, qualified string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s (\n", qualified)
	for _, c := range t.Columns {
		fmt.Fprintf(&b, "  %s %s NOT NULL,\n", QuoteIdent(c.Name), d.ColumnType(c.Type))
	}
	fmt.Fprintf(&b, "  PRIMARY KEY (%s)\n)", joinIdents(t.UniqueKey()))
	return b.String()
}

func (d keyedDialect) AddColumn(qualified string, c Column) string {
	typ, zero := d.spell(spell(c.Type))
	if d.addNotNull {
		typ += " NOT NULL"
	}
	return fmt.Sprintf("ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s %s DEFAULT %s",
		qualified, QuoteIdent(c.Name), typ, zero)
}
