package duckdb

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/schema/schematest"
	"github.com/event-grpc/event-grpc/internal/sink/sinktest"
)

// open opens a store in the test's temporary directory, closed when the
// test ends.
func open(t testing.TB) *Sink { return openWith(t, Config{}) }

// openWith is open with cfg (its Path set).
func openWith(t testing.TB, cfg Config) *Sink {
	t.Helper()
	cfg.Path = filepath.Join(t.TempDir(), "t.duckdb")
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func testTable() *schema.Table {
	return &schema.Table{
		Name:  "things",
		Store: schema.Analytics,
		Columns: []schema.Column{
			{Name: "id", Type: schema.String},
			{Name: "n", Type: schema.Int64},
			{Name: "ts", Type: schema.DateTime},
			{Name: "ok", Type: schema.Bool},
			{Name: "tags", Type: schema.Strings},
		},
		OrderBy: []string{"id"},
	}
}

func row(id string, n int64) schematest.Row {
	return schematest.Row{id, n, time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC), true, []string{"a", "b"}}
}

// count is the one value q answers (a count, as text).
func count(t *testing.T, s *Sink, q string) string {
	t.Helper()
	_, rows := sinktest.Query(t, s, q, 10)
	return rows[0][0]
}

func TestWriteDedupesOnKey(t *testing.T) {
	s, ctx, tb := open(t), context.Background(), testTable()
	sinktest.Migrate(t, s, tb)
	if err := s.Migrate(ctx, []*schema.Table{tb}); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	batch := []schematest.Row{row("a", 1), row("b", 2), row("a", 1)}
	for range 2 {
		sinktest.Write(t, s, tb, batch)
	}
	if got := count(t, s, "SELECT count(*) FROM things"); got != "2" {
		t.Fatalf("rows = %s, want 2 (one per key)", got)
	}
	_, rows := sinktest.Query(t, s, "SELECT id, n, ts, ok, tags FROM things WHERE id = 'b'", 10)
	want := []string{"b", "2", "2026-11-27 10:00:00", "1", "['a','b']"}
	for i := range want {
		if rows[0][i] != want[i] {
			t.Fatalf("column %d = %q, want %q", i, rows[0][i], want[i])
		}
	}
}

func TestBadRowFailsAlone(t *testing.T) {
	s, ctx, tb := open(t), context.Background(), testTable()
	sinktest.Migrate(t, s, tb)
	// Types fit (the batch is typed); DuckDB refuses the data: invalid UTF-8.
	bad := row("bad\xff\xfe", 2)
	sinktest.Failed(t, s.Write(ctx, sinktest.Batch(t, tb, []schematest.Row{row("a", 1), bad, row("c", 3)})), 1)
	if got := count(t, s, "SELECT count(*) FROM things"); got != "2" {
		t.Fatalf("rows = %s, want the 2 good ones", got)
	}
}

func TestAddedColumnIsAdded(t *testing.T) {
	s, tb := open(t), testTable()
	sinktest.Migrate(t, s, tb)
	sinktest.Write(t, s, tb, []schematest.Row{row("a", 1)})
	tb.Columns = append(tb.Columns, schema.Column{Name: "extra", Type: schema.String})
	sinktest.Migrate(t, s, tb)
	sinktest.Write(t, s, tb, []schematest.Row{append(row("b", 2), "x")})
	if got := count(t, s, "SELECT string_agg(extra, ',' ORDER BY id) FROM things"); got != ",x" {
		t.Fatalf("extra = %q", got)
	}
}

func TestQueryIsReadOnly(t *testing.T) {
	s, tb := open(t), testTable()
	sinktest.Migrate(t, s, tb)
	sinktest.Refused(t, s,
		"DROP TABLE things",
		"DELETE FROM things",
		"SELECT 1; DROP TABLE things",
		"/* hi */ INSERT INTO things VALUES ('x')",
		"SELECT * FROM read_csv('/etc/passwd')",
		"",
	)
	if got := count(t, s, "-- a comment\nSELECT count(*) FROM things"); got != "0" {
		t.Fatalf("count = %s", got)
	}
}

func TestReadOnly(t *testing.T) {
	accepted := []string{
		"SELECT 1",
		"  select 1 ;  ",
		"WITH x AS (SELECT 1) SELECT * FROM x",
		"SHOW TABLES",
		"DESCRIBE things",
		"DESC things",
		"EXPLAIN SELECT 1",
		"SUMMARIZE things",
		"FROM things",
		"VALUES (1), (2)",
		"TABLE things",
		"(SELECT 1)",
		"/* c /* nested */ ; */ SELECT 1",
		"SELECT ';' AS semi, \"a;b\" FROM (SELECT 1 AS \"a;b\")",
		"SELECT $$;$$, $tag$ ; $tag$",
		"SELECT E'\\';'",
		"SELECT 1 -- trailing; comment",
	}
	sinktest.CheckReadOnly(t, ReadOnly, accepted, []string{
		"SELECT '--'; DROP TABLE things",
		"SELECT '/*'; DROP TABLE things",
		"SELECT 'a\\'; DROP TABLE things; --'", // standard strings: the literal ends at \'
		"SELECT 1; SELECT 2",
		"INSERT INTO things (id) VALUES ('x')",
		"ATTACH 'other.duckdb'",
		"COPY things TO 'out.csv'",
		"/* SELECT */ DELETE FROM things",
		"",
		";",
	})
	// What the check accepts, DuckDB runs.
	s, ctx, tb := open(t), context.Background(), testTable()
	sinktest.Migrate(t, s, tb)
	for _, q := range accepted {
		if _, _, err := s.Query(ctx, q, 100); err != nil {
			t.Errorf("Query(%q): %v", q, err)
		}
	}
}

func TestLimitsAreApplied(t *testing.T) {
	s := openWith(t, Config{MemoryLimit: "256MB", CheckpointThreshold: "96MB"})
	_, rows := sinktest.Query(t, s, "SELECT current_setting('memory_limit')", 1)
	if got := rows[0][0]; got != "244.1 MiB" && got != "256.0 MiB" && got != "256MB" {
		t.Fatalf("memory_limit = %q, want 256MB", got)
	}
	_, rows = sinktest.Query(t, s, "SELECT current_setting('checkpoint_threshold')", 1)
	if got := rows[0][0]; got != "91.5 MiB" && got != "96.0 MiB" && got != "96MB" {
		t.Fatalf("checkpoint_threshold = %q, want 96MB", got)
	}
}
