package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/event-grpc/event-grpc/internal/component/componenttest"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/schema/schematest"
	"github.com/event-grpc/event-grpc/internal/sink"
	"github.com/event-grpc/event-grpc/internal/sink/sinktest"
)

func TestMain(m *testing.M) { sinktest.Main(m, "ClickHouse", "ensure-clickhouse.sh") }

// newSink connects to the local server with a fresh database, dropped when
// the test ends.
func newSink(t testing.TB, mod ...func(*Config)) (*Sink, string) {
	t.Helper()
	db := sinktest.Namespace()
	cfg := Config{Databases: []string{db}, Logger: quiet}
	for _, f := range mod {
		f(&cfg)
	}
	ctx := context.Background()
	s, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			t.Error(err)
		}
		if cfg.Cluster != "" {
			dropClusterDatabase(t, db, cfg.Cluster)
			return
		}
		dropDatabase(t, db)
	})
	return s, db
}

// dropDatabase drops db over a direct connection (tests may have cut the
// sink's own).
func dropDatabase(t testing.TB, db string) {
	t.Helper()
	conn, err := ch.Open(&ch.Options{Addr: []string{"127.0.0.1:9000"}})
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close()
	if err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+schema.QuoteIdent(db)); err != nil {
		t.Errorf("drop %s: %v", db, err)
	}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// mapSource resolves From names from a map.
type mapSource = sinktest.MapSource

var row = sinktest.Row

// allTypes has one column of every type.
func allTypes() *schema.Table { return sinktest.AllTypes(schema.Analytics) }

// allTypesRows has whole seconds: DateTime holds no fraction.
func allTypesRows(t testing.TB, tbl *schema.Table, n int) []schematest.Row {
	return sinktest.AllTypesRows(t, tbl, n, time.Date(2024, 6, 10, 8, 30, 15, 0, time.UTC))
}

// allTypesSink opens a sink on a database of its own holding n rows of the
// all_types table.
func allTypesSink(t *testing.T, n int) (s *Sink, db string, tbl *schema.Table, rows []schematest.Row) {
	t.Helper()
	s, db = newSink(t)
	tbl = allTypes()
	sinktest.Migrate(t, s, tbl)
	rows = allTypesRows(t, tbl, n)
	sinktest.Write(t, s, tbl, rows)
	return s, db, tbl, rows
}

func count(t testing.TB, s *Sink, db, table string) int {
	t.Helper()
	_, rows := sinktest.Query(t, s, fmt.Sprintf("SELECT count() FROM %s FINAL", schema.Qualify(db, table)), 0)
	n, _ := strconv.Atoi(rows[0][0])
	return n
}

func TestVersionSeen(t *testing.T) {
	s, _ := newSink(t)
	v := s.ServerVersion()
	t.Logf("ClickHouse server version %s", v)
	if v.Major == 0 {
		t.Fatalf("no version: %+v", v)
	}
}

func TestMigrateCreatesEveryDefaultTable(t *testing.T) {
	s, db := newSink(t)
	ctx := context.Background()
	tables := sinktest.DefaultTables()
	if err := s.Migrate(ctx, tables); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T) {
		for _, tbl := range tables {
			have, err := s.columns(ctx, db, tbl.Name)
			if err != nil {
				t.Fatal(err)
			}
			if len(have) != len(tbl.Columns) {
				t.Errorf("%s: %d columns, declared %d", tbl.Name, len(have), len(tbl.Columns))
			}
			for _, c := range tbl.Columns {
				if got, want := have[c.Name], schema.ClickHouse.ColumnType(c.Type); got != want {
					t.Errorf("%s.%s: type %q, want %q", tbl.Name, c.Name, got, want)
				}
			}
			_, rows := sinktest.Query(t, s, fmt.Sprintf("SELECT engine, sorting_key, partition_key FROM system.tables WHERE database = '%s' AND name = '%s'", db, tbl.Name), 0)
			if len(rows) != 1 || rows[0][0] != "ReplacingMergeTree" {
				t.Errorf("%s: system.tables says %v", tbl.Name, rows)
			}
		}
	}
	check(t)
	// Twice is the same.
	if err := s.Migrate(ctx, tables); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	check(t)
}

func TestMigrateAddsDeclaredColumns(t *testing.T) {
	s, db, tbl, _ := allTypesSink(t, 3)
	ctx := context.Background()
	added := []schema.Column{
		{Name: "extra_s", Type: schema.String, From: "x"},
		{Name: "extra_i", Type: schema.Int64, From: "x"},
		{Name: "extra_b", Type: schema.Bool, From: "x"},
		{Name: "extra_t", Type: schema.DateTime, From: "x"},
		{Name: "extra_j", Type: schema.JSON, From: "x"},
		{Name: "extra_a", Type: schema.Strings, From: "x"},
	}
	tbl2 := allTypes()
	tbl2.Columns = append(tbl2.Columns, added...)
	sinktest.Migrate(t, s, tbl2)
	have, err := s.columns(ctx, db, tbl.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range added {
		if got, want := have[c.Name], schema.ClickHouse.ColumnType(c.Type); got != want {
			t.Errorf("%s: type %q, want %q", c.Name, got, want)
		}
	}
	// Old rows read the zero values of the new columns.
	_, rows := sinktest.Query(t, s, fmt.Sprintf("SELECT extra_s, extra_i, extra_b, extra_j, extra_a FROM %s ORDER BY id LIMIT 1", schema.Qualify(db, tbl.Name)), 0)
	if want := []string{"", "0", "0", "{}", "[]"}; !reflect.DeepEqual(rows[0], want) {
		t.Errorf("old row reads %q, want %q", rows[0], want)
	}
	// And the new declaration writes.
	sinktest.Write(t, s, tbl2, []schematest.Row{row(t, tbl2, mapSource{"id": "new", "at": time.Now(), "x": "1"})})
	if err := s.Migrate(ctx, []*schema.Table{tbl2}); err != nil {
		t.Fatalf("migrate again: %v", err)
	}
}

func TestWriteReadsBackTypedValues(t *testing.T) {
	s, db, tbl, rows := allTypesSink(t, 50)
	sinktest.SameRows(t, tbl, readAllTypes(t, s, db, tbl), rows)
}

func TestWriteTwiceLeavesOneRowPerKey(t *testing.T) {
	s, db := newSink(t)
	tbl := schema.EventTable()
	sinktest.Migrate(t, s, tbl)
	rows := eventRows(t, 1000, 0)
	for range 2 {
		sinktest.Write(t, s, tbl, rows)
	}
	if n := count(t, s, db, tbl.Name); n != len(rows) {
		t.Fatalf("count() FINAL = %d, want %d", n, len(rows))
	}
}

func TestVersionedTableKeepsNewest(t *testing.T) {
	s, db := newSink(t)
	tbl := schema.AffiliateOrderTable()
	sinktest.Migrate(t, s, tbl)
	src := func(status string, updated string) schematest.JSONSource {
		return schematest.JSONSource{
			Doc:  map[string]any{"id": "o-1", "network": "cuelinks", "status": status, "order_date": "2024-06-01T10:00:00Z", "updated_at": updated},
			Meta: map[string]any{"insert_time": time.Now()},
		}
	}
	var rows []schematest.Row
	for _, v := range []struct{ status, at string }{{"approved", "2024-06-05T00:00:00Z"}, {"pending", "2024-06-01T10:00:00Z"}} {
		r, err := schematest.Map(tbl, src(v.status, v.at))
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	// The newer report first, the older after: the newer still wins.
	for _, r := range rows {
		sinktest.Write(t, s, tbl, []schematest.Row{r})
	}
	_, got := sinktest.Query(t, s, fmt.Sprintf("SELECT status FROM %s FINAL", schema.Qualify(db, tbl.Name)), 0)
	if len(got) != 1 || got[0][0] != "approved" {
		t.Fatalf("FINAL gives %v, want the newest (approved)", got)
	}
}

func eventRows(t testing.TB, n, offset int) []schematest.Row {
	tbl := schema.EventTable()
	now := time.Now().UTC().Truncate(time.Second)
	rows := make([]schematest.Row, n)
	for i := range rows {
		src := mapSource{
			"event.id": fmt.Sprintf("ev-%08d", offset+i), "event.name": "LaunchEvent",
			"event.timestamp": now.Add(-time.Duration(i) * time.Second), "meta.insert_time": now,
			"event.params":     `{"launch_source":"icon","cold_start":true}`,
			"header.sessionId": "s-1", "header.userId": "u-" + strconv.Itoa(i%100), "header.deviceId": "d-1",
			"header.os": "android", "header.appVersion": "5.12.0", "header.channel": "play_store",
			"header.clientType": "app", "header.appLanguage": "en",
		}
		rows[i] = row(t, tbl, src)
	}
	return rows
}

// A value ClickHouse cannot hold fails its row alone; the rest commit.
func TestWriteOutOfRangeDateFailsItsRowOnly(t *testing.T) {
	s, db := newSink(t)
	ctx := context.Background()
	tbl := allTypes()
	sinktest.Migrate(t, s, tbl)
	rows := allTypesRows(t, tbl, 10)
	rows[4][tbl.Index("day")] = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
	rows[7][tbl.Index("at")] = time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC)
	failed := sinktest.Failed(t, s.Write(ctx, sinktest.Batch(t, tbl, rows)), 4, 7)
	var ce *schema.ColumnError
	if !errors.As(failed[4], &ce) || ce.Column != "day" || !fault.IsPermanent(failed[4]) {
		t.Errorf("row 4: %v", failed[4])
	}
	if n := count(t, s, db, tbl.Name); n != 8 {
		t.Fatalf("%d rows committed, want 8", n)
	}
}

// A row the server itself refuses is isolated by splitting the batch.
func TestWriteServerRejectedRowsAreIsolated(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, db := newSink(t, func(c *Config) { c.Registerer = reg })
	ctx := context.Background()
	tbl := allTypes()
	sinktest.Migrate(t, s, tbl)
	// A check the server runs on insert, as a constraint would: throwIf in a
	// MATERIALIZED column fails the whole block when one row has kind 'bad'.
	if err := s.conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s ADD COLUMN chk UInt8 MATERIALIZED throwIf(kind = 'bad')", schema.Qualify(db, tbl.Name))); err != nil {
		t.Fatal(err)
	}
	rows := allTypesRows(t, tbl, 100)
	for _, i := range []int{17, 63} {
		rows[i][tbl.Index("kind")] = "bad"
	}
	failed := sinktest.Failed(t, s.Write(ctx, sinktest.Batch(t, tbl, rows)), 17, 63)
	if !fault.IsPermanent(failed[17]) {
		t.Errorf("row 17: %v is not permanent", failed[17])
	}
	if n := count(t, s, db, tbl.Name); n != 98 {
		t.Fatalf("%d rows committed, want 98", n)
	}
	splits := testutil.ToFloat64(s.m.Splits.WithLabelValues(tbl.Name))
	if splits == 0 || splits > 2*2*7 {
		t.Errorf("%v partial writes for 2 bad rows in 100", splits)
	}
}

func TestConcurrentWrites(t *testing.T) {
	s, db := newSink(t)
	ctx := context.Background()
	tbl := schema.EventTable()
	sinktest.Migrate(t, s, tbl)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() { errs <- s.Write(ctx, sinktest.Batch(t, tbl, eventRows(t, 500, w*500))) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, s, db, tbl.Name); n != 4000 {
		t.Fatalf("count %d, want 4000", n)
	}
}

// server is the local server for the tests of a server that goes away or
// hangs, behind a proxy.
func server() sinktest.Server {
	return sinktest.Server{
		Addr:  "127.0.0.1:9000",
		Table: schema.EventTable(),
		Rows:  eventRows,
		Open: func(t *testing.T, port int) (sink.Sink, func() int) {
			s, db := newSink(t, func(c *Config) { c.Port = port })
			return s, func() int { return count(t, s, db, schema.EventTable().Name) }
		},
		New: func(port int) (sink.Sink, error) {
			return New(context.Background(), Config{Port: port, Databases: []string{"x"}, DialTimeout: time.Second})
		},
	}
}

func TestServerGoneIsTransient(t *testing.T) { server().TestGone(t) }

func TestHungServerIsBoundedByDeadline(t *testing.T) { server().TestHung(t) }

func TestQuery(t *testing.T) {
	s, db, tbl, _ := allTypesSink(t, 5)
	ctx := context.Background()
	cols, rows := sinktest.Query(t, s, "-- newest first\nSELECT id, n32, ok, at, day, tags, doc FROM all_types ORDER BY id DESC LIMIT 2;", 10)
	if want := []string{"id", "n32", "ok", "at", "day", "tags", "doc"}; !reflect.DeepEqual(cols, want) {
		t.Errorf("columns %v", cols)
	}
	want := []string{"id-00004", "-4", "1", "2024-06-10 12:30:15", "2024-06-10", "['a','4']", `{"i":4,"s":"é\\t\\"q\\""}`}
	if len(rows) != 2 || !reflect.DeepEqual(rows[0], want) {
		t.Errorf("rows %q\nwant first %q", rows, want)
	}
	sinktest.Refused(t, s,
		"SELECT number FROM system.numbers LIMIT 20", // more rows than allowed
		"INSERT INTO all_types (id) VALUES ('x')",
		"DROP TABLE all_types",
		"SELECT 1; DROP TABLE all_types",
		"ALTER TABLE all_types DELETE WHERE 1",
		"",
		"-- only a comment",
	)
	// The server's readonly setting backs the check up.
	if _, _, err := s.Query(ctx, "SELECT * FROM url('http://127.0.0.1:1/', CSV, 'a String')", 10); err == nil {
		t.Error("a table function that reaches out ran")
	}
	if n := count(t, s, db, tbl.Name); n != 5 {
		t.Errorf("count %d", n)
	}
}

func TestReadOnly(t *testing.T) {
	sinktest.CheckReadOnly(t, ReadOnly, []string{
		"SELECT 1",
		"  select 1 ;  ",
		"/* c */ WITH x AS (SELECT 1) SELECT * FROM x",
		"SHOW TABLES",
		"DESCRIBE TABLE t",
		"DESC t",
		"EXISTS TABLE t",
		"(SELECT 1)",
		"SELECT ';' AS semi",
		"SELECT 'a -- b', \"x;y\" FROM t",
		"SELECT 1 -- trailing; comment",
	}, []string{
		"SELECT 1; SELECT 2",
		"SELECT '--'; DROP TABLE t",
		"INSERT INTO t VALUES (1)",
		"DROP TABLE t",
		"OPTIMIZE TABLE t FINAL",
		"/* SELECT */ TRUNCATE TABLE t",
		"",
		";",
	})
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want fault.Kind
	}{
		{"deadline", context.DeadlineExceeded, fault.KindTransient},
		{"eof", fmt.Errorf("read: %w", errors.New("x")), fault.KindTransient},
		{"memory", &ch.Exception{Code: 241}, fault.KindThrottled},
		{"too many parts", &ch.Exception{Code: 252}, fault.KindThrottled},
		{"timeout", &ch.Exception{Code: 159}, fault.KindTransient},
		{"unknown table", &ch.Exception{Code: 60}, fault.KindTransient},
		{"throwIf", &ch.Exception{Code: 395}, fault.KindPermanent},
		{"cannot parse", &ch.Exception{Code: 27}, fault.KindPermanent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := fault.KindOf(classify(tc.err)); got != tc.want {
				t.Errorf("%v: %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	if _, err := New(context.Background(), Config{}); err == nil {
		t.Error("no databases accepted")
	}
	if _, err := New(context.Background(), Config{Databases: []string{""}}); err == nil {
		t.Error("empty database name accepted")
	}
}

func TestCloseTwice(t *testing.T) {
	s, err := New(context.Background(), Config{Databases: []string{"default"}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	componenttest.StopTwice(t, context.Background(), s.Close)
}

func BenchmarkWriteClickHouse(b *testing.B) {
	s, db := newSink(b)
	ctx := context.Background()
	tbl := schema.EventTable()
	if err := s.Migrate(ctx, []*schema.Table{tbl}); err != nil {
		b.Fatal(err)
	}
	const batch = 10000
	batches := make([]*schema.Batch, 4)
	for i := range batches {
		batches[i] = sinktest.Batch(b, tbl, eventRows(b, batch, i*batch))
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		if err := s.Write(ctx, batches[i%len(batches)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "rows/s")
	b.StopTimer()
	if n := count(b, s, db, tbl.Name); n != min(b.N, len(batches))*batch {
		b.Fatalf("count %d", n)
	}
}

// CLICKHOUSE_TTL against the real server: before 19.6 (no table TTL) the
// migration refuses, naming the variable and the version, and creates no
// table; from 19.6 every partitioned table carries the TTL, and a changed
// number of days is applied to the existing tables.
func TestMigrateTTL(t *testing.T) {
	ctx := context.Background()
	s, db := newSink(t, func(c *Config) { c.TTLDays = 90 })
	tables := sinktest.DefaultTables()
	err := s.Migrate(ctx, tables)
	if !s.ServerVersion().AtLeast(19, 6) {
		if err == nil || !strings.Contains(err.Error(), "CLICKHOUSE_TTL needs ClickHouse 19.6") ||
			!strings.Contains(err.Error(), s.ServerVersion().String()) {
			t.Fatalf("server %s: Migrate with a TTL = %v, want a refusal naming CLICKHOUSE_TTL and the version", s.ServerVersion(), err)
		}
		var n uint64
		if err := s.conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ?", db).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("a refused migration created %d tables", n)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	engines := func() map[string]string {
		rows, err := s.conn.Query(ctx, "SELECT name, engine_full FROM system.tables WHERE database = ?", db)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		m := map[string]string{}
		for rows.Next() {
			var n, e string
			if err := rows.Scan(&n, &e); err != nil {
				t.Fatal(err)
			}
			m[n] = e
		}
		return m
	}
	for _, tb := range tables {
		e := engines()[tb.Name]
		if tb.PartitionBy != "" && !strings.Contains(e, "toIntervalDay(90)") {
			t.Errorf("%s: no 90-day TTL: %s", tb.Name, e)
		}
	}
	s.cfg.TTLDays = 30
	if err := s.Migrate(ctx, tables); err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if e := engines()[tb.Name]; tb.PartitionBy != "" && !strings.Contains(e, "toIntervalDay(30)") {
			t.Errorf("%s: TTL not changed to 30 days: %s", tb.Name, e)
		}
	}
}
