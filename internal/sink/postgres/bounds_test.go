package postgres

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/query"
)

// A row over the result's byte bound is refused, naming the limit, as its
// length arrives from the server: it is never read into memory. The pool
// goes on serving queries afterwards. On e066805 pgx read the whole row
// (100 MB here; 800 MB in the probe) before the budget refused it.
func TestQueryRefusesHugeRow(t *testing.T) {
	s, _ := newSink(t)
	ctx := context.Background()
	if _, _, err := s.Query(ctx, "SELECT 1", 10); err != nil { // warm up
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := s.Query(ctx, "SELECT repeat('x', 100000000)", 10)
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("SELECT repeat('x', 100000000): %v; Go allocated %.1f MB", err, float64(alloc)/1e6)
	if err == nil || !fault.IsPermanent(err) || !strings.Contains(err.Error(), strconv.Itoa(query.MaxResultBytes)) {
		t.Fatalf("huge row: %v, want a permanent error naming the %d byte limit", err, query.MaxResultBytes)
	}
	if alloc > 8<<20 {
		t.Fatalf("Go allocated %d bytes for a refused 100 MB row: it was read", alloc)
	}
	for range 6 { // more than the pool's connections: none is left bounded or broken
		cols, rows, err := s.Query(ctx, "SELECT repeat('y', 1000000) AS v", 10)
		if err != nil || len(rows) != 1 || cols[0] != "v" || len(rows[0][0]) != 1000000 {
			t.Fatalf("a 1 MB value after the refusal: %d rows, %v", len(rows), err)
		}
	}
}
