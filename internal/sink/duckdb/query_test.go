package duckdb

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/event-grpc/event-grpc/internal/schema/schematest"
	"github.com/event-grpc/event-grpc/internal/sink/sinktest"
)

// Read-only means read-only: no statement through Query, however it is
// wrapped or spelled, changes a setting, ends the guard transaction,
// writes, attaches, checkpoints, installs, or touches files — and the
// writer is unaffected afterwards. The reproduction is the first:
// on 470972f a query set memory_limit to 1.9 MiB, after which realistic
// batches could no longer be written.
func TestQueryCannotChangeAnything(t *testing.T) {
	dir := t.TempDir()
	s, ctx, tb := open(t), context.Background(), testTable()
	sinktest.Migrate(t, s, tb)
	setting := func(name string) string {
		t.Helper()
		_, rows, err := s.Query(ctx, "SELECT current_setting('"+name+"')", 1)
		if err != nil {
			t.Fatal(err)
		}
		return rows[0][0]
	}
	memBefore, accessBefore := setting("memory_limit"), setting("enable_external_access")
	secret := filepath.Join(dir, "secret.csv")
	if err := os.WriteFile(secret, []byte("a,b\n1,2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	for _, q := range []string{
		"SET memory_limit='1.9MiB'",
		"set memory_limit = '1.9MiB'",
		"RESET memory_limit",
		"SET GLOBAL memory_limit='1.9MiB'",
		"PRAGMA memory_limit='1.9MiB'",
		"CALL pragma_version(); SET memory_limit='1.9MiB'",
		"/* SELECT */ SET memory_limit='1.9MiB'",
		"/**/SET/**/memory_limit='1.9MiB'",
		"SELECT 1; SET memory_limit='1.9MiB'",
		"SELECT E'\\''; SET memory_limit='1.9MiB'; --'",
		"SELECT $$x$$; SET memory_limit='1.9MiB'",
		"WITH x AS (SELECT 1) SELECT * FROM x; SET memory_limit='1.9MiB'",
		"FROM things; SET memory_limit='1.9MiB'",
		"SET enable_external_access=true",
		"SET lock_configuration=false",
		"COMMIT; CREATE TABLE evil (a INT)",
		"SELECT 1; COMMIT",
		"ROLLBACK; DROP TABLE things",
		"CREATE TABLE evil AS SELECT 1",
		"DROP TABLE things",
		"INSERT INTO things (id) VALUES ('x')",
		"ATTACH '" + filepath.Join(dir, "x.duckdb") + "' AS x",
		"DETACH main",
		"CHECKPOINT",
		"FORCE CHECKPOINT",
		"INSTALL httpfs",
		"LOAD httpfs",
		"COPY things TO '" + out + ".csv'",
		"COPY (SELECT 1) TO '" + out + ".parquet'",
		"EXPORT DATABASE '" + out + "'",
		"SELECT * FROM read_csv('" + secret + "')",
		"SELECT * FROM read_csv('/etc/passwd')",
		"SELECT * FROM read_text('/etc/hostname')",
		"FROM read_csv_auto('" + secret + "')",
		"SELECT * FROM glob('/etc/*')",
		"SELECT * FROM '" + secret + "'",
		"SELECT * FROM read_json('http://127.0.0.1:1/x.json')",
		"SELECT * FROM query('SET memory_limit=''1.9MiB''')",
		"EXPLAIN ANALYZE COPY things TO '" + out + "2.csv'",
		"DESCRIBE SET memory_limit='1.9MiB'",
		"SUMMARIZE SELECT * FROM read_csv('" + secret + "')",
		"EXPLAIN ANALYZE SET memory_limit='1.9MiB'",
		"EXPLAIN ANALYZE PRAGMA memory_limit='1.9MiB'",
		"EXPLAIN (FORMAT JSON) SET memory_limit='1.9MiB'",
		"EXPLAIN ANALYZE CHECKPOINT",
		"EXPLAIN ANALYZE INSERT INTO things (id) VALUES ('x')",
		"EXPLAIN ANALYZE CREATE TABLE evil (a INT)",
		"EXPLAIN ANALYZE EXPLAIN ANALYZE SET memory_limit='1.9MiB'",
	} {
		t.Run(q, func(t *testing.T) {
			if _, rows, err := s.Query(ctx, q, 10); err == nil {
				t.Errorf("Query(%q) ran (%v); want it refused", q, rows)
			}
		})
	}
	if got := setting("memory_limit"); got != memBefore {
		t.Fatalf("memory_limit is %s after the queries, was %s", got, memBefore)
	}
	if got := setting("enable_external_access"); got != accessBefore {
		t.Fatalf("enable_external_access is %s, was %s", got, accessBefore)
	}
	for _, p := range []string{out + ".csv", out + ".parquet", out, filepath.Join(dir, "x.duckdb")} {
		if _, err := os.Stat(p); err == nil {
			t.Fatalf("a query wrote %s", p)
		}
	}
	if got := count(t, s, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'evil'"); got != "0" {
		t.Fatalf("a query created a table")
	}
	// The writer still writes a realistic batch.
	rows := make([]schematest.Row, 5000)
	for i := range rows {
		rows[i] = row(fmt.Sprintf("id-%d-%s", i, strings.Repeat("x", 200)), int64(i))
	}
	if err := s.Write(ctx, sinktest.Batch(t, tb, rows)); err != nil {
		t.Fatalf("write after the queries: %v", err)
	}
	if got := count(t, s, "SELECT count(*) FROM things"); got != "5000" {
		t.Fatalf("count = %s", got)
	}
}

// The engine's guards hold without the lexer: what the lexer might one
// day let through still cannot change a setting, write or touch a file.
// (CHECKPOINT is the exception: DuckDB runs it even in a READ ONLY
// transaction, so only the lexer refuses it — TestQueryCannotChangeAnything.)
func TestEngineGuardsWithoutTheLexer(t *testing.T) {
	dir := t.TempDir()
	s, ctx, tb := open(t), context.Background(), testTable()
	sinktest.Migrate(t, s, tb)
	for _, q := range []string{
		"SET memory_limit='1.9MiB'",
		"PRAGMA memory_limit='1.9MiB'",
		"RESET memory_limit",
		"SET lock_configuration=false",
		"SET enable_external_access=true",
		"INSERT INTO things (id) VALUES ('x')",
		"CREATE TABLE evil (a INT)",
		"DROP TABLE things",
		"COPY things TO '" + filepath.Join(dir, "o.csv") + "'",
		"ATTACH '" + filepath.Join(dir, "x.duckdb") + "' AS x",
		"SELECT * FROM read_csv('/etc/passwd')",
		"INSTALL httpfs",
		"LOAD httpfs",
		"FROM force_checkpoint()",
		"SELECT * FROM checkpoint('memory')",
	} {
		if _, _, err := s.query(ctx, q, 10); err == nil {
			t.Errorf("engine ran %q", q)
		}
	}
	// The engine runs checkpoint() inside a read-only transaction (it
	// changes no row, but it rewrites the store): the lexer refuses it,
	// however it is spelled.
	for _, q := range []string{
		"SELECT * FROM checkpoint()",
		"FROM Main.CHECKPOINT ()",
		`SELECT * FROM "checkpoint"()`,
		"SELECT * FROM force_checkpoint()",
		"SELECT * FROM query('SELECT * FROM checkpoint()')",
		"SELECT 1 FROM things, checkpoint()",
	} {
		if err := ReadOnly(q); err == nil || !strings.Contains(err.Error(), "checkpoint") {
			t.Errorf("ReadOnly(%q) = %v, want a refusal naming checkpoint", q, err)
		}
	}
	if got := count(t, s, "SELECT count(*) FROM things"); got != "0" {
		t.Fatalf("things holds %s rows", got)
	}
	if err := s.Write(ctx, sinktest.Batch(t, tb, []schematest.Row{row("a", 1)})); err != nil {
		t.Fatalf("write after: %v", err)
	}
}

// A result is bounded in bytes as well as rows.
func TestResultBoundedInBytes(t *testing.T) {
	s := open(t)
	_, _, err := s.Query(context.Background(), "SELECT '"+strings.Repeat("x", 1000000)+"' FROM range(40)", 100)
	if err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("a 40 MB result: %v; want refused for its size", err)
	}
}
