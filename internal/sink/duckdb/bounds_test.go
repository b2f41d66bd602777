package duckdb

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/query"
)

// peakRSS resets the process's peak resident size (clear_refs 5) and
// returns a function that reports how far it rose above the start.
func peakRSS(t *testing.T) func() int64 {
	t.Helper()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Fatalf("resetting the peak RSS: %v", err)
	}
	start := procStatus(t, "VmRSS")
	return func() int64 { return procStatus(t, "VmHWM") - start }
}

func procStatus(t *testing.T, key string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/self/status", key)
	return 0
}

// The 800 MB cell is refused before it runs: repeat() is a sizer
// (its result's size is its argument's), which DuckDB would build outside
// its memory_limit, uninterruptibly (+4 GB RSS measured), so the process
// does not grow. On e066805 the value was built, copied out of the engine,
// scanned into a Go string and escaped before the budget refused it.
func TestQueryRefusesHugeValue(t *testing.T) {
	s := openWith(t, Config{})
	if _, _, err := s.Query(context.Background(), "SELECT 1", 10); err != nil { // warm up
		t.Fatal(err)
	}
	for _, q := range []string{
		"SELECT repeat('x', 800000000)",
		"SELECT length(rpad('', 800000000, 'x'))",
		"SELECT length(printf('%0800000000d', 1))",
		"SELECT len(range(800000000))",
		"SELECT * FROM query('SELECT repeat(''x'', 800000000)')",
		"WITH RECURSIVE t(s) AS (SELECT 'x' UNION ALL SELECT s || s FROM t) SELECT length(s) FROM t LIMIT 40",
		"EXPLAIN ANALYZE SELECT repeat('x', 800000000)",
		"SUMMARIZE SELECT repeat('x', 800000000)",
	} {
		grew := peakRSS(t)
		_, _, err := s.Query(context.Background(), q, 10)
		g := grew()
		if err == nil || !fault.IsPermanent(err) || !strings.Contains(err.Error(), "does not run") {
			t.Fatalf("%s: %v, want a permanent error naming what is not run", q, err)
		}
		if g > 64<<20 {
			t.Fatalf("%s: refused, but peak RSS rose %d MB", q, g>>20)
		}
		t.Logf("%s: %v (peak RSS rose %d MB)", q, err, g>>20)
	}
	// Range in FROM streams rows and stays allowed; the row limit stops it.
	if _, rows, err := s.Query(context.Background(), "SELECT * FROM range(800000000)", 10); err == nil || len(rows) > 10 || !strings.Contains(err.Error(), "rows") {
		t.Fatalf("range in FROM over maxRows: %d rows, %v; want the row limit's error", len(rows), err)
	}
}

// A value over the result limit that no sizer builds (a chain of
// concatenations: 64 KiB x 8 x 8 x 8 = 32 MiB) is refused, naming the
// limit, inside DuckDB: it is never copied into a result, out of the
// engine or into Go memory.
func TestQueryRefusesValueOverResultLimit(t *testing.T) {
	s := openWith(t, Config{})
	if _, _, err := s.Query(context.Background(), "SELECT 1", 10); err != nil { // warm up
		t.Fatal(err)
	}
	eight := "s||s||s||s||s||s||s||s AS s"
	q := "WITH a AS (SELECT '" + strings.Repeat("x", 64<<10) + "' AS s), b AS (SELECT " + eight + " FROM a), c AS (SELECT " + eight + " FROM b) SELECT " + eight + " FROM c"
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, _, err := s.Query(context.Background(), q, 10)
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("a 32 MiB value: %v in %v; Go allocated %.1f MB", err, time.Since(start).Round(time.Millisecond), float64(alloc)/1e6)
	if err == nil || !fault.IsPermanent(err) || !strings.Contains(err.Error(), strconv.Itoa(query.MaxResultBytes)) {
		t.Fatalf("huge value: %v, want a permanent error naming the %d byte limit", err, query.MaxResultBytes)
	}
	if alloc > 4<<20+uint64(len(q))*4 {
		t.Fatalf("Go allocated %d bytes for a refused 32 MiB value: it was copied out of the engine", alloc)
	}
	// Values under the limit, many rows and columns, still come back whole.
	cols, rows, err := s.Query(context.Background(), "SELECT i, '"+strings.Repeat("y", 1000)+"' AS s, [i, i] AS l FROM range(5) t(i) ORDER BY i", 10)
	if err != nil || len(rows) != 5 || strings.Join(cols, ",") != "i,s,l" || len(rows[4][1]) != 1000 || rows[4][0] != "4" {
		t.Fatalf("ordinary query: %v %v, %v", cols, rows, err)
	}
	if _, rows, err := s.Query(context.Background(), "SELECT * FROM range(100)", 10); err == nil || len(rows) > 10 {
		t.Fatalf("over maxRows: %d rows, %v; want the row limit's error", len(rows), err)
	}
}

// Every query has a server-side timeout: DuckDB has no per-statement
// setting, so the context deadline interrupts it. On e066805 a query ran
// for as long as its client waited.
func TestQueryTimeout(t *testing.T) {
	s := openWith(t, Config{QueryTimeout: time.Second})
	start := time.Now()
	_, _, err := s.Query(context.Background(), "SELECT count(*) FROM range(1000000000000) a, range(1000) b", 10)
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "timeout") || !fault.IsPermanent(err) {
		t.Fatalf("long query: %v after %v, want the timeout named", err, took)
	}
	if took > 20*time.Second {
		t.Fatalf("a query with a 1 s timeout ran %v", took)
	}
	if _, _, err := s.Query(context.Background(), "SELECT 1", 10); err != nil {
		t.Fatalf("after a timed-out query: %v", err)
	}
}
