package schema

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Type is a portable column type; each dialect renders its own spelling.
type Type string

const (
	String   Type = "String"   // text
	Int32    Type = "Int32"    // 32-bit signed integer
	Int64    Type = "Int64"    // 64-bit signed integer
	Float64  Type = "Float64"  // double
	Bool     Type = "Bool"     // boolean (ClickHouse UInt8)
	DateTime Type = "DateTime" // UTC instant, second precision or finer where the dialect has it
	Date     Type = "Date"     // calendar day
	JSON     Type = "JSON"     // JSON text (ClickHouse String, PostgreSQL jsonb, DuckDB VARCHAR)
	Strings  Type = "Strings"  // array of text
)

// Store says which kind of database holds a table.
type Store string

const (
	// Analytics tables go to ClickHouse when SINK=clickhouse, else DuckDB.
	Analytics Store = "analytics"
	// Transactional tables go to PostgreSQL when it is configured, else
	// to the analytics store's embedded fallback (DuckDB).
	Transactional Store = "transactional"
)

// Column is one declared column.
type Column struct {
	Name string
	Type Type
	// From says where the value comes from. The mapping code of each
	// handler resolves it; see Source.
	From string
	// Required columns make a row invalid (a permanent error) when the
	// source has no value for them. Others take the type's zero value.
	Required bool
}

// Table is one declared table.
type Table struct {
	Name string
	// Database is the ClickHouse database; empty means the first of
	// CLICKHOUSE_DB_NAMES. PostgreSQL tables use POSTGRES_EVENT_SCHEMA.
	Database string
	Store    Store
	Columns  []Column
	// OrderBy is the ClickHouse sorting key; its last column is the
	// de-duplication key (ReplacingMergeTree collapses equal keys).
	OrderBy []string
	// Key is the unique key the row dedupes on in PostgreSQL and DuckDB;
	// it defaults to the last column of OrderBy.
	Key []string
	// PartitionBy names a DateTime column; tables are partitioned by its
	// month.
	PartitionBy string
	// Version names a column whose highest value wins when ClickHouse
	// merges duplicates (optional).
	Version string
	// Comment describes the table.
	Comment string
}

// UniqueKey returns Key, or the last OrderBy column.
func (t *Table) UniqueKey() []string {
	if len(t.Key) > 0 {
		return t.Key
	}
	if len(t.OrderBy) > 0 {
		return t.OrderBy[len(t.OrderBy)-1:]
	}
	return nil
}

// ColumnNames returns the column names in order.
func (t *Table) ColumnNames() []string {
	out := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		out[i] = c.Name
	}
	return out
}

// Index returns the position of the named column, or -1.
func (t *Table) Index(name string) int {
	for i, c := range t.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// Validate checks a declaration.
func (t *Table) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("table %s: "+format, append([]any{t.Name}, args...)...))
	}
	if t.Name == "" || strings.ContainsAny(t.Name, " .;\"'`") {
		bad("invalid name")
	}
	seen := map[string]bool{}
	for _, c := range t.Columns {
		if seen[c.Name] {
			bad("column %s declared twice", c.Name)
		}
		seen[c.Name] = true
		if c.Name == "" || strings.ContainsAny(c.Name, " .;\"'`") {
			bad("invalid column name %q", c.Name)
		}
		switch c.Type {
		case String, Int32, Int64, Float64, Bool, DateTime, Date, JSON, Strings:
		default:
			bad("column %s: unknown type %q", c.Name, c.Type)
		}
	}
	for _, k := range append(slices.Clone(t.OrderBy), t.Key...) {
		if !seen[k] {
			bad("key column %s is not declared", k)
		}
	}
	if len(t.UniqueKey()) == 0 {
		bad("no order key: rows could not be de-duplicated")
	}
	if t.PartitionBy != "" {
		if i := t.Index(t.PartitionBy); i < 0 || (t.Columns[i].Type != DateTime && t.Columns[i].Type != Date) {
			bad("partition column %s must be a declared DateTime or Date", t.PartitionBy)
		}
	}
	if t.Version != "" {
		// ClickHouse (18.16) takes only unsigned integers, Date or DateTime
		// as ReplacingMergeTree's version.
		if i := t.Index(t.Version); i < 0 || (t.Columns[i].Type != DateTime && t.Columns[i].Type != Date) {
			bad("version column %s must be a declared DateTime or Date", t.Version)
		}
	}
	if t.Store != Analytics && t.Store != Transactional {
		bad("store %q is not analytics or transactional", t.Store)
	}
	return errors.Join(errs...)
}

// Catalog is a set of tables by name.
type Catalog map[string]*Table

// Lookup returns the named table.
func (c Catalog) Lookup(name string) (*Table, bool) {
	t, ok := c[name]
	return t, ok
}
