package schema

import (
	"fmt"
	"strings"
)

// ClickHouse renders declarations for ClickHouse (18.16 and later: the
// common subset of the MergeTree family, no Nullable, no LowCardinality, no
// Map/JSON/DateTime64). Every table is a ReplacingMergeTree ordered by
// OrderBy, so rows with an equal sorting key collapse into one at merge time
// and in `SELECT … FINAL`; with a Version column the highest version wins,
// otherwise the last inserted. Tables are partitioned by the month of
// PartitionBy.
//
// AddColumn renders `ADD COLUMN` without IF NOT EXISTS: ClickHouse 18.16
// does not parse it there. The sink compares system.columns first and adds
// only the missing columns.
var ClickHouse Dialect = clickHouse{}

// ClickHouseTTL is ClickHouse whose CreateTable gives each partitioned
// table a retention TTL: rows whose PartitionBy time is more than days old
// are deleted at merges (`TTL <column> + INTERVAL days DAY`). Table TTL
// needs ClickHouse 19.6 or later. days <= 0 is ClickHouse itself.
func ClickHouseTTL(days int) Dialect {
	if days <= 0 {
		return ClickHouse
	}
	return clickHouse{ttlDays: days}
}

// ClickHouseTTLClause is the TTL expression ClickHouseTTL(days) gives t,
// for `ALTER TABLE … MODIFY TTL`; empty when t is not partitioned by time
// or days <= 0.
func ClickHouseTTLClause(t *Table, days int) string {
	if days <= 0 || t.PartitionBy == "" {
		return ""
	}
	return fmt.Sprintf("%s + INTERVAL %d DAY", QuoteIdent(t.PartitionBy), days)
}

type clickHouse struct{ ttlDays int }

func (clickHouse) Name() string { return "clickhouse" }

func (clickHouse) ColumnType(t Type) string {
	switch t {
	case Int32:
		return "Int32"
	case Int64:
		return "Int64"
	case Float64:
		return "Float64"
	case Bool:
		return "UInt8"
	case DateTime:
		return "DateTime"
	case Date:
		return "Date"
	case Strings:
		return "Array(String)"
	}
	return "String" // String, JSON
}

func (d clickHouse) CreateTable(t *Table, qualified string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s (\n", qualified)
	for i, c := range t.Columns {
		sep := ","
		if i == len(t.Columns)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "  %s %s%s%s\n", QuoteIdent(c.Name), d.ColumnType(c.Type), chDefault(c.Type), sep)
	}
	b.WriteString(") ENGINE = ReplacingMergeTree(")
	if t.Version != "" {
		b.WriteString(QuoteIdent(t.Version))
	}
	b.WriteString(")\n")
	if t.PartitionBy != "" {
		fmt.Fprintf(&b, "PARTITION BY toYYYYMM(%s)\n", QuoteIdent(t.PartitionBy))
	}
	order := t.OrderBy
	if len(order) == 0 {
		order = t.UniqueKey()
	}
	fmt.Fprintf(&b, "ORDER BY (%s)", joinIdents(order))
	if ttl := ClickHouseTTLClause(t, d.ttlDays); ttl != "" {
		fmt.Fprintf(&b, "\nTTL %s", ttl)
	}
	return b.String()
}

func (d clickHouse) AddColumn(qualified string, c Column) string {
	return fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s%s",
		qualified, QuoteIdent(c.Name), d.ColumnType(c.Type), chDefault(c.Type))
}

// chDefault is the DEFAULT clause of a column whose ClickHouse type default
// differs from the zero value Map writes (Zero): only JSON, whose zero is
// `{}` rather than the empty string. It matters for rows that existed
// before the column was added.
func chDefault(t Type) string {
	if t == JSON {
		return " DEFAULT '{}'"
	}
	return ""
}
