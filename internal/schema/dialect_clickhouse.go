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

func (clickHouse) ColumnType(t Type) string { return spell(t).clickHouse }

func (d clickHouse) CreateTable(t *Table, qualified string) string {
	engine := "ReplacingMergeTree("
	if t.Version != "" {
		engine += QuoteIdent(t.Version)
	}
	return d.createTable(t, qualified, "", engine+")")
}

// createTable renders CREATE TABLE with the given ENGINE clause; onCluster,
// when not empty, runs it on every host of that cluster.
func (d clickHouse) createTable(t *Table, qualified, onCluster, engine string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s%s (\n", qualified, onClusterClause(onCluster))
	for i, c := range t.Columns {
		sep := ","
		if i == len(t.Columns)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "  %s %s%s%s\n", QuoteIdent(c.Name), d.ColumnType(c.Type), chDefault(c.Type), sep)
	}
	fmt.Fprintf(&b, ") ENGINE = %s\n", engine)
	if t.PartitionBy != "" {
		fmt.Fprintf(&b, "PARTITION BY toYYYYMM(%s)\n", QuoteIdent(t.PartitionBy))
	}
	fmt.Fprintf(&b, "ORDER BY (%s)", joinIdents(d.orderBy(t)))
	if ttl := ClickHouseTTLClause(t, d.ttlDays); ttl != "" {
		fmt.Fprintf(&b, "\nTTL %s", ttl)
	}
	return b.String()
}

func (clickHouse) orderBy(t *Table) []string {
	if len(t.OrderBy) == 0 {
		return t.UniqueKey()
	}
	return t.OrderBy
}

func onClusterClause(cluster string) string {
	if cluster == "" {
		return ""
	}
	return " ON CLUSTER " + QuoteIdent(cluster)
}

// ClickHouseLocalSuffix names the replicated table behind a Distributed
// one on a cluster: table t is stored in "<t>_local" on every replica.
const ClickHouseLocalSuffix = "_local"

// ClickHouseCluster renders t for a ClickHouse cluster (remote_servers
// entry cluster): the rows live in db.<t>_local, a
// ReplicatedReplacingMergeTree on every host (its ZooKeeper path
// '/clickhouse/tables/{shard}/<db>.<t>_local', replica '{replica}', both
// macros of each host's configuration), and db.<t> is a Distributed table
// over them, sharded by a hash of the table's unique key, so that every copy
// of a row lands on the same shard and collapses there. Both are created
// ON CLUSTER. A replicated table drops a block identical to one of its
// last 100 inserts, so an insert retried with the same rows in the same
// order after a replica failed is stored once.
func ClickHouseCluster(t *Table, db, cluster string) (local, distributed string) {
	d := clickHouse{}
	localName := t.Name + ClickHouseLocalSuffix
	path := "/clickhouse/tables/{shard}/" + db + "." + localName
	engine := "ReplicatedReplacingMergeTree(" + quoteString(path) + ", '{replica}'"
	if t.Version != "" {
		engine += ", " + QuoteIdent(t.Version)
	}
	engine += ")"
	local = d.createTable(t, Qualify(db, localName), cluster, engine)
	key := "cityHash64(" + joinIdents(t.UniqueKey()) + ")"
	distributed = fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s%s AS %s ENGINE = Distributed(%s, %s, %s, %s)",
		Qualify(db, t.Name), onClusterClause(cluster), Qualify(db, localName),
		QuoteIdent(cluster), QuoteIdent(db), QuoteIdent(localName), key)
	return local, distributed
}

// ClickHouseAddColumnOnCluster renders ALTER TABLE … ON CLUSTER … ADD COLUMN.
func ClickHouseAddColumnOnCluster(qualified, cluster string, c Column) string {
	d := clickHouse{}
	return fmt.Sprintf("ALTER TABLE %s%s ADD COLUMN %s %s%s",
		qualified, onClusterClause(cluster), QuoteIdent(c.Name), d.ColumnType(c.Type), chDefault(c.Type))
}

// quoteString renders s as a single-quoted SQL string literal.
func quoteString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func (d clickHouse) AddColumn(qualified string, c Column) string {
	return fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s%s",
		qualified, QuoteIdent(c.Name), d.ColumnType(c.Type), chDefault(c.Type))
}

// chDefault is the DEFAULT clause of a column whose ClickHouse type default
// differs from the zero value a Mapper writes (Zero): only JSON, whose zero is
// `{}` rather than the empty string. It matters for rows that existed
// before the column was added.
func chDefault(t Type) string {
	if t == JSON {
		return " DEFAULT '{}'"
	}
	return ""
}
