package schema

import (
	"strings"
	"testing"
)

// sample has one column of every type.
func sample() *Table {
	return &Table{
		Name:  "sample",
		Store: Analytics,
		Columns: []Column{
			{Name: "id", Type: String, From: "$.id", Required: true},
			{Name: "kind", Type: String, From: "$.kind"},
			{Name: "n32", Type: Int32, From: "$.n32"},
			{Name: "n64", Type: Int64, From: "$.n64"},
			{Name: "f", Type: Float64, From: "$.f"},
			{Name: "ok", Type: Bool, From: "$.ok"},
			{Name: "at", Type: DateTime, From: "$.at"},
			{Name: "day", Type: Date, From: "$.day"},
			{Name: "doc", Type: JSON, From: "$.doc"},
			{Name: "tags", Type: Strings, From: "$.tags"},
			{Name: "updated", Type: DateTime, From: "$.updated"},
		},
		OrderBy:     []string{"kind", "id"},
		PartitionBy: "at",
		Version:     "updated",
	}
}

func TestCreateTableGolden(t *testing.T) {
	// The column lists of sample in ClickHouse and PostgreSQL, the same
	// with or without a version, partition or composite key.
	const create = `CREATE TABLE IF NOT EXISTS "db"."sample" (
`
	const chColumns = `  "id" String,
  "kind" String,
  "n32" Int32,
  "n64" Int64,
  "f" Float64,
  "ok" UInt8,
  "at" DateTime,
  "day" Date,
  "doc" String DEFAULT '{}',
  "tags" Array(String),
  "updated" DateTime
`
	const pgColumns = `  "id" text NOT NULL,
  "kind" text NOT NULL,
  "n32" integer NOT NULL,
  "n64" bigint NOT NULL,
  "f" double precision NOT NULL,
  "ok" boolean NOT NULL,
  "at" timestamptz NOT NULL,
  "day" date NOT NULL,
  "doc" jsonb NOT NULL,
  "tags" text[] NOT NULL,
  "updated" timestamptz NOT NULL,
`

	noVersion := sample()
	noVersion.Version = ""
	noVersion.PartitionBy = ""
	keyed := sample()
	keyed.Key = []string{"kind", "id"}

	tests := []struct {
		name    string
		dialect Dialect
		table   *Table
		want    string
	}{
		{"clickhouse", ClickHouse, sample(), create + chColumns + `) ENGINE = ReplacingMergeTree("updated")
PARTITION BY toYYYYMM("at")
ORDER BY ("kind", "id")`},
		{"clickhouse without version or partition", ClickHouse, noVersion, create + chColumns + `) ENGINE = ReplacingMergeTree()
ORDER BY ("kind", "id")`},
		{"postgres", Postgres, sample(), create + pgColumns + `  PRIMARY KEY ("id")
)`},
		{"postgres composite key", Postgres, keyed, create + pgColumns + `  PRIMARY KEY ("kind", "id")
)`},
		{"duckdb", DuckDB, sample(), create + `  "id" VARCHAR NOT NULL,
  "kind" VARCHAR NOT NULL,
  "n32" INTEGER NOT NULL,
  "n64" BIGINT NOT NULL,
  "f" DOUBLE NOT NULL,
  "ok" BOOLEAN NOT NULL,
  "at" TIMESTAMP NOT NULL,
  "day" DATE NOT NULL,
  "doc" VARCHAR NOT NULL,
  "tags" VARCHAR[] NOT NULL,
  "updated" TIMESTAMP NOT NULL,
  PRIMARY KEY ("id")
)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.table.Validate(); err != nil {
				t.Fatal(err)
			}
			got := tc.dialect.CreateTable(tc.table, Qualify("db", tc.table.Name))
			if got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestAddColumnGolden(t *testing.T) {
	q := Qualify("db", "t")
	tests := []struct {
		dialect Dialect
		typ     Type
		want    string
	}{
		{ClickHouse, String, `ALTER TABLE "db"."t" ADD COLUMN "c" String`},
		{ClickHouse, Bool, `ALTER TABLE "db"."t" ADD COLUMN "c" UInt8`},
		{ClickHouse, JSON, `ALTER TABLE "db"."t" ADD COLUMN "c" String DEFAULT '{}'`},
		{ClickHouse, Strings, `ALTER TABLE "db"."t" ADD COLUMN "c" Array(String)`},
		{ClickHouse, DateTime, `ALTER TABLE "db"."t" ADD COLUMN "c" DateTime`},
		{Postgres, String, `ALTER TABLE "db"."t" ADD COLUMN IF NOT EXISTS "c" text NOT NULL DEFAULT ''`},
		{Postgres, Int32, `ALTER TABLE "db"."t" ADD COLUMN IF NOT EXISTS "c" integer NOT NULL DEFAULT 0`},
		{Postgres, Int64, `ALTER TABLE "db"."t" ADD COLUMN IF NOT EXISTS "c" bigint NOT NULL DEFAULT 0`},
		{Postgres, Float64, `ALTER TABLE "db"."t" ADD COLUMN IF NOT EXISTS "c" double precision NOT NULL DEFAULT 0`},
		{Postgres, Bool, `ALTER TABLE "db"."t" ADD COLUMN IF NOT EXISTS "c" boolean NOT NULL DEFAULT false`},
		{Postgres, DateTime, `ALTER TABLE "db"."t" ADD COLUMN IF NOT EXISTS "c" timestamptz NOT NULL DEFAULT '1970-01-01 00:00:00+00'`},
		{Postgres, Date, `ALTER TABLE "db"."t" ADD COLUMN IF NOT EXISTS "c" date NOT NULL DEFAULT '1970-01-01'`},
		{Postgres, JSON, `ALTER TABLE "db"."t" ADD COLUMN IF NOT EXISTS "c" jsonb NOT NULL DEFAULT '{}'::jsonb`},
		{Postgres, Strings, `ALTER TABLE "db"."t" ADD COLUMN IF NOT EXISTS "c" text[] NOT NULL DEFAULT '{}'::text[]`},
		{DuckDB, String, `ALTER TABLE "db"."t" ADD COLUMN IF NOT EXISTS "c" VARCHAR DEFAULT ''`},
		{DuckDB, DateTime, `ALTER TABLE "db"."t" ADD COLUMN IF NOT EXISTS "c" TIMESTAMP DEFAULT '1970-01-01 00:00:00'`},
		{DuckDB, JSON, `ALTER TABLE "db"."t" ADD COLUMN IF NOT EXISTS "c" VARCHAR DEFAULT '{}'`},
		{DuckDB, Strings, `ALTER TABLE "db"."t" ADD COLUMN IF NOT EXISTS "c" VARCHAR[] DEFAULT []`},
	}
	for _, tc := range tests {
		t.Run(tc.dialect.Name()+"/"+string(tc.typ), func(t *testing.T) {
			got := tc.dialect.AddColumn(q, Column{Name: "c", Type: tc.typ})
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestColumnTypesCoverEveryType(t *testing.T) {
	types := []Type{String, Int32, Int64, Float64, Bool, DateTime, Date, JSON, Strings}
	want := map[string][]string{
		"clickhouse": {"String", "Int32", "Int64", "Float64", "UInt8", "DateTime", "Date", "String", "Array(String)"},
		"postgres":   {"text", "integer", "bigint", "double precision", "boolean", "timestamptz", "date", "jsonb", "text[]"},
		"duckdb":     {"VARCHAR", "INTEGER", "BIGINT", "DOUBLE", "BOOLEAN", "TIMESTAMP", "DATE", "VARCHAR", "VARCHAR[]"},
	}
	for _, d := range []Dialect{ClickHouse, Postgres, DuckDB} {
		t.Run(d.Name(), func(t *testing.T) {
			for i, typ := range types {
				if got := d.ColumnType(typ); got != want[d.Name()][i] {
					t.Errorf("%s: got %s, want %s", typ, got, want[d.Name()][i])
				}
			}
		})
	}
}

func TestQualify(t *testing.T) {
	tests := []struct{ db, table, want string }{
		{"db", "t", `"db"."t"`},
		{"", "t", `"t"`},
		{`we"ird`, "t", `"we""ird"."t"`},
	}
	for _, tc := range tests {
		if got := Qualify(tc.db, tc.table); got != tc.want {
			t.Errorf("Qualify(%q, %q) = %s, want %s", tc.db, tc.table, got, tc.want)
		}
	}
}

// Every default table validates and renders in every dialect, with each of
// its columns and its key in the DDL.
func TestDefaultTablesRenderInEveryDialect(t *testing.T) {
	cat := Default()
	if len(cat) != len(defaultTables()) {
		t.Fatalf("catalog has %d tables, defaultTables %d", len(cat), len(defaultTables()))
	}
	for _, name := range cat.Names() {
		tbl := cat[name]
		t.Run(name, func(t *testing.T) {
			if err := tbl.Validate(); err != nil {
				t.Fatal(err)
			}
			for _, d := range []Dialect{ClickHouse, Postgres, DuckDB} {
				ddl := d.CreateTable(tbl, Qualify("db", tbl.Name))
				for _, c := range tbl.Columns {
					if !strings.Contains(ddl, QuoteIdent(c.Name)+" "+d.ColumnType(c.Type)) {
						t.Errorf("%s: column %s missing from\n%s", d.Name(), c.Name, ddl)
					}
				}
				if strings.Count(ddl, "(") != strings.Count(ddl, ")") {
					t.Errorf("%s: unbalanced parentheses:\n%s", d.Name(), ddl)
				}
				for _, c := range tbl.Columns {
					if add := d.AddColumn(Qualify("db", tbl.Name), c); !strings.HasPrefix(add, `ALTER TABLE "db".`) {
						t.Errorf("%s: AddColumn %s", d.Name(), add)
					}
				}
			}
			ch := ClickHouse.CreateTable(tbl, Qualify("db", tbl.Name))
			if !strings.Contains(ch, "ORDER BY ("+joinIdents(tbl.OrderBy)+")") {
				t.Errorf("clickhouse: order key missing:\n%s", ch)
			}
			pg := Postgres.CreateTable(tbl, Qualify("db", tbl.Name))
			if !strings.Contains(pg, "PRIMARY KEY ("+joinIdents(tbl.UniqueKey())+")") {
				t.Errorf("postgres: primary key missing:\n%s", pg)
			}
		})
	}
}

// CLICKHOUSE_TTL: a partitioned table gets `TTL <partition column> +
// INTERVAL N DAY` after its ORDER BY; an unpartitioned one and days <= 0 get
// none.
func TestClickHouseTTL(t *testing.T) {
	got := ClickHouseTTL(90).CreateTable(sample(), `"db"."sample"`)
	if !strings.HasSuffix(got, "ORDER BY (\"kind\", \"id\")\nTTL \"at\" + INTERVAL 90 DAY") {
		t.Errorf("partitioned table, 90 days:\n%s", got)
	}
	if want := ClickHouse.CreateTable(sample(), `"db"."sample"`); ClickHouseTTL(0).CreateTable(sample(), `"db"."sample"`) != want ||
		strings.Contains(want, "TTL") {
		t.Errorf("days 0 must render no TTL")
	}
	flat := sample()
	flat.PartitionBy = ""
	if got := ClickHouseTTL(30).CreateTable(flat, `"db"."sample"`); strings.Contains(got, "TTL") {
		t.Errorf("unpartitioned table got a TTL:\n%s", got)
	}
	if got := ClickHouseTTLClause(sample(), 7); got != `"at" + INTERVAL 7 DAY` {
		t.Errorf("clause = %q", got)
	}
}
