package schema

// DuckDB is the embedded store's dialect. Its ADD COLUMN takes no NOT NULL;
// the column's DEFAULT fills the existing rows.
var DuckDB Dialect = keyedDialect{
	name:  "duckdb",
	spell: func(s spelling) (string, string) { return s.duckDB, s.duckDBZero },
}
