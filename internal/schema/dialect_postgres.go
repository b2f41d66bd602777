package schema

// Postgres renders declarations for PostgreSQL (11 and later). Every column
// is NOT NULL (absent values take the type's zero, see Zero); the table's
// primary key is its UniqueKey, which the sink's
// `INSERT … ON CONFLICT (key)` dedupes on. PartitionBy is not rendered:
// the transactional tables are small enough to stay unpartitioned.
var Postgres Dialect = keyedDialect{
	name:       "postgres",
	spell:      func(s spelling) (string, string) { return s.postgres, s.postgresZero },
	addNotNull: true, // the default satisfies NOT NULL in existing rows
}

// PostgresZero is the SQL literal of a type's zero value (Zero) in
// PostgreSQL: the default of added columns, and what a versioned upsert
// treats as "no value" (see the postgres sink).
func PostgresZero(t Type) string { return spell(t).postgresZero }

// Qualify quotes and joins a database (or schema) and a table name:
// Qualify("db", "t") is `"db"."t"`; an empty database gives `"t"`.
func Qualify(database, table string) string {
	if database == "" {
		return QuoteIdent(table)
	}
	return QuoteIdent(database) + "." + QuoteIdent(table)
}
