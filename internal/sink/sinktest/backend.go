package sinktest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/schema/schematest"
	"github.com/event-grpc/event-grpc/internal/sink"
)

// Main is the TestMain of a backend whose tests need a server: it runs
// scripts/<script> of the repository, which starts the server when it is
// not running, and exits naming server and script if that fails; then it
// runs the tests and checks that they leak no goroutine.
func Main(m *testing.M, server, script string) {
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "..", "scripts", script)
	if out, err := exec.Command(path).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "%s is needed for these tests and %s failed: %v\n%s", server, path, err, out)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m)
}

// Namespace returns a fresh name for a test's own database or schema.
func Namespace() string {
	var b [6]byte
	rand.Read(b[:])
	return "test_" + hex.EncodeToString(b[:])
}

// Migrate migrates s to tables, failing the test if it cannot.
func Migrate(t testing.TB, s sink.Sink, tables ...*schema.Table) {
	t.Helper()
	if err := s.Migrate(context.Background(), tables); err != nil {
		t.Fatal(err)
	}
}

// Write writes rows of tbl to s as one batch, failing the test unless
// every row commits.
func Write(t testing.TB, s sink.Sink, tbl *schema.Table, rows []schematest.Row) {
	t.Helper()
	if err := s.Write(context.Background(), Batch(t, tbl, rows)); err != nil {
		t.Fatal(err)
	}
}

// Failed fails the test unless err is a *fault.Partial naming exactly the
// rows (by index in the batch) given; it returns their errors.
func Failed(t testing.TB, err error, rows ...int) map[int]error {
	t.Helper()
	p, ok := fault.AsPartial(err)
	if !ok {
		t.Fatalf("want a *fault.Partial, got %v", err)
	}
	named := len(p.Failed) == len(rows)
	for _, r := range rows {
		named = named && p.Failed[r] != nil
	}
	if !named {
		t.Fatalf("failed rows %v, want %v", p.Failed, rows)
	}
	return p.Failed
}

// Query runs q on s (at most maxRows rows), failing the test if it fails.
func Query(t testing.TB, s sink.Querier, q string, maxRows int) (cols []string, rows [][]string) {
	t.Helper()
	cols, rows, err := s.Query(context.Background(), q, maxRows)
	if err != nil {
		t.Fatal(err)
	}
	return cols, rows
}

// Refused checks that s refuses each statement of queries with a
// permanent error (the caller's fault), as a subtest.
func Refused(t *testing.T, s sink.Querier, queries ...string) {
	t.Helper()
	for _, q := range queries {
		t.Run(q, func(t *testing.T) {
			if _, _, err := s.Query(context.Background(), q, 10); err == nil || !fault.IsPermanent(err) {
				t.Fatalf("Query(%q) err = %v, want a permanent refusal", q, err)
			}
		})
	}
}

// Rows is a query's result as database/sql, pgx and clickhouse-go give it.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// ScanAllTypes reads the rows of an AllTypes table from rows, which select
// its columns in their order (id, kind, n32, n64, f, ok, at, day, doc,
// tags), as the Go values Write takes. B and L are the types the driver
// scans ok (bool, or ClickHouse's UInt8) and tags ([]string, or []any of
// strings) into.
func ScanAllTypes[B bool | uint8, L []string | []any](t testing.TB, rows Rows) []schematest.Row {
	t.Helper()
	var out []schematest.Row
	for rows.Next() {
		var (
			id, kind, doc string
			n32           int32
			n64           int64
			f             float64
			ok            B
			at, day       time.Time
			tags          L
		)
		if err := rows.Scan(&id, &kind, &n32, &n64, &f, &ok, &at, &day, &doc, &tags); err != nil {
			t.Fatal(err)
		}
		out = append(out, schematest.Row{id, kind, n32, n64, f, asBool(ok), at.UTC(), day.UTC(), doc, asStrings(tags)})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func asBool(v any) bool {
	if b, ok := v.(uint8); ok {
		return b == 1
	}
	return v.(bool)
}

func asStrings(v any) []string {
	l, ok := v.([]any)
	if !ok {
		return v.([]string)
	}
	strs := make([]string, len(l))
	for i, e := range l {
		strs[i] = e.(string)
	}
	return strs
}

// SameRows fails the test unless got holds the rows of want, in order,
// with every column of the same Go type and value.
func SameRows(t testing.TB, tbl *schema.Table, got, want []schematest.Row) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read %d rows, wrote %d", len(got), len(want))
	}
	for i, w := range want {
		for c := range w {
			if !reflect.DeepEqual(got[i][c], w[c]) {
				t.Errorf("row %d column %s: got %#v, want %#v", i, tbl.Columns[c].Name, got[i][c], w[c])
			}
		}
	}
}

// BehindCutProxy is a Harness's Gone for a server at addr: the sink open
// returns with its connections going to port (a proxy's in front of addr),
// migrated to tbl, and then the proxy cut; back restarts the proxy.
func BehindCutProxy(t *testing.T, addr string, tbl *schema.Table, open func(port int) sink.Sink) (s sink.Sink, back func()) {
	p := NewProxy(t, addr)
	s = open(p.Port())
	Migrate(t, s, tbl)
	p.Cut()
	return s, func() { p.Restart(t) }
}

// Server is a backend behind a network server, for the tests of a server
// that goes away (TestGone) or stops answering (TestHung).
type Server struct {
	// Addr is the server's address (host:port).
	Addr string
	// Table is the table the tests write; Rows returns n rows of it, keys
	// numbered from offset.
	Table *schema.Table
	Rows  func(t testing.TB, n, offset int) []schematest.Row
	// Open opens a sink on a namespace of its own whose connections go to
	// port of 127.0.0.1, and a function counting its stored rows of Table
	// (the deduplicated view).
	Open func(t *testing.T, port int) (s sink.Sink, count func() int)
	// New is the backend's New against port of 127.0.0.1, with a short
	// connect timeout.
	New func(port int) (sink.Sink, error)
}

// TestGone: a server that goes away makes writes fail transiently, and
// fast, and a new sink fails transiently too; when the server is back, the
// pool reconnects by itself.
func (sv Server) TestGone(t *testing.T) {
	ctx := context.Background()
	p := NewProxy(t, sv.Addr)
	s, count := sv.Open(t, p.Port())
	Migrate(t, s, sv.Table)
	Write(t, s, sv.Table, sv.Rows(t, 10, 0))
	p.Cut()
	start := time.Now()
	err := s.Write(ctx, Batch(t, sv.Table, sv.Rows(t, 10, 10)))
	if err == nil {
		t.Fatal("write through a cut connection succeeded")
	}
	if _, ok := fault.AsPartial(err); ok || fault.KindOf(err) != fault.KindTransient {
		t.Fatalf("want a transient error, got %v (%v)", err, fault.KindOf(err))
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
	if s2, err := sv.New(p.Port()); err == nil || fault.KindOf(err) != fault.KindTransient {
		if err == nil {
			s2.Close(ctx)
		}
		t.Fatalf("New on a closed port: %v (%v)", err, fault.KindOf(err))
	}
	p.Restart(t)
	var werr error
	for attempt := range 5 {
		if werr = s.Write(ctx, Batch(t, sv.Table, sv.Rows(t, 10, 10))); werr == nil {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
	}
	if werr != nil {
		t.Fatalf("no write after the server came back: %v", werr)
	}
	if n := count(); n != 20 {
		t.Fatalf("count %d, want 20", n)
	}
}

// TestHung: a server that stops answering cannot hang a write past its
// deadline.
func (sv Server) TestHung(t *testing.T) {
	p := NewProxy(t, sv.Addr)
	s, _ := sv.Open(t, p.Port())
	Migrate(t, s, sv.Table)
	p.Freeze()
	wctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	err := s.Write(wctx, Batch(t, sv.Table, sv.Rows(t, 10, 0)))
	if err == nil || fault.KindOf(err) != fault.KindTransient {
		t.Fatalf("want a transient error, got %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("write returned after %v, deadline was 2s", d)
	}
	p.Cut() // let the connections die, so that Close does not wait for them
}
