package clickhouse

import (
	"context"
	"strings"
	"testing"
)

// Read-only means read-only on the server too: no table function (which
// reach other servers, URLs and files), no SETTINGS clause. On 470972f
// readonly=2 let remote() and numbers() run and a query change its own
// settings.
func TestQueryServerReadOnly(t *testing.T) {
	s, _ := newSink(t)
	ctx := context.Background()
	for _, q := range []string{
		"SELECT * FROM remote('127.0.0.1:9000', system.one)",
		"SELECT * FROM remote('127.0.0.1:9000', system.one) SETTINGS readonly = 0",
		"SELECT * FROM numbers(3)",
		"SELECT * FROM file('passwd', CSV, 'a String')",
		"SELECT * FROM url('http://127.0.0.1:9000/', CSV, 'a String')",
		"SELECT * FROM system.one SETTINGS max_memory_usage = 1",
		"WITH (SELECT 1) AS x SELECT * FROM remote('127.0.0.1:9000', system.one)",
	} {
		if _, rows, err := s.Query(ctx, q, 10); err == nil {
			t.Errorf("Query(%q) ran (%v); want it refused", q, rows)
		} else if strings.Contains(q, "remote") && !strings.Contains(err.Error(), "readonly") && !strings.Contains(err.Error(), "only") {
			t.Errorf("Query(%q): %v; want the server's readonly refusal", q, err)
		}
	}
	if _, rows, err := s.Query(ctx, "SELECT 1", 10); err != nil || len(rows) != 1 {
		t.Fatalf("SELECT 1: %v %v", rows, err)
	}
	// Bounded in bytes as well as rows.
	if _, _, err := s.Query(ctx, "SELECT arrayStringConcat(arrayMap(x -> 'xxxxxxxxxx', range(100000))) FROM system.numbers LIMIT 40", 100); err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("a 40 MB result: %v; want refused for its size", err)
	}
}
