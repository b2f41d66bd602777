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

// A value over the result limit is refused, naming the limit, inside
// DuckDB: it is never copied into a result, out of the engine or into Go
// memory. (40 MB rather than the 800 MB: DuckDB's repeat() itself
// takes about six times the value's size while it builds it, outside
// memory_limit and not interruptible, which no bound outside the engine
// can change; 800 MB costs this shared test machine gigabytes for
// minutes.) On e066805 the value was copied out of the engine, scanned
// into a Go string and escaped before the budget refused it.
func TestQueryRefusesHugeValue(t *testing.T) {
	s := openWith(t, Config{})
	if _, _, err := s.Query(context.Background(), "SELECT 1", 10); err != nil { // warm up
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	grew := peakRSS(t)
	start := time.Now()
	_, _, err := s.Query(context.Background(), "SELECT repeat('x', 40000000)", 10)
	g := grew()
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("SELECT repeat('x', 40000000): %v in %v; peak RSS rose %.0f MB, Go allocated %.1f MB", err, time.Since(start).Round(time.Millisecond), float64(g)/1e6, float64(alloc)/1e6)
	if err == nil || !fault.IsPermanent(err) || !strings.Contains(err.Error(), strconv.Itoa(query.MaxResultBytes)) {
		t.Fatalf("huge value: %v, want a permanent error naming the %d byte limit", err, query.MaxResultBytes)
	}
	if alloc > 4<<20 {
		t.Fatalf("Go allocated %d bytes for a refused 40 MB value: it was copied out of the engine", alloc)
	}
	// Values under the limit, many rows and columns, still come back whole.
	cols, rows, err := s.Query(context.Background(), "SELECT i, repeat('y', 1000) AS s, [i, i] AS l FROM range(5) t(i) ORDER BY i", 10)
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
