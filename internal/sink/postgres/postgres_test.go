package postgres

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

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/event-grpc/event-grpc/internal/component/componenttest"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/schema/schematest"
	"github.com/event-grpc/event-grpc/internal/sink"
	"github.com/event-grpc/event-grpc/internal/sink/sinktest"
)

const (
	pgAddr = "127.0.0.1:5432"
	pgDB   = "test"
	pgUser = "postgres"
)

func TestMain(m *testing.M) { sinktest.Main(m, "PostgreSQL", "ensure-postgres.sh") }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newSink connects with a fresh schema, dropped when the test ends. The
// pool is small: other packages' tests share the server.
func newSink(t testing.TB, mod ...func(*Config)) (*Sink, string) {
	t.Helper()
	sch := sinktest.Namespace()
	cfg := Config{User: pgUser, DB: pgDB, Schema: sch, Logger: quiet, MaxConns: 4, MinConns: 1}
	for _, f := range mod {
		f(&cfg)
	}
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			t.Error(err)
		}
		admin(t, "DROP SCHEMA IF EXISTS "+schema.QuoteIdent(sch)+" CASCADE")
	})
	return s, sch
}

// admin runs a statement over a direct connection (tests may cut the
// sink's own).
func admin(t testing.TB, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s@%s/%s", pgUser, pgAddr, pgDB))
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Errorf("%s: %v", sql, err)
	}
}

func scalar[T any](t testing.TB, s *Sink, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := s.pool.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

type mapSource = sinktest.MapSource

var row = sinktest.Row

func allTypes() *schema.Table { return sinktest.AllTypes(schema.Transactional, "id") }

func allTypesRows(t testing.TB, tbl *schema.Table, n int) []schematest.Row {
	return sinktest.AllTypesRows(t, tbl, n, time.Date(2024, 6, 10, 8, 30, 15, 123456000, time.UTC))
}

// allTypesSink opens a sink on a schema of its own holding n rows of the
// all_types table.
func allTypesSink(t *testing.T, n int) (s *Sink, sch string, tbl *schema.Table, rows []schematest.Row) {
	t.Helper()
	s, sch = newSink(t)
	tbl = allTypes()
	sinktest.Migrate(t, s, tbl)
	rows = allTypesRows(t, tbl, n)
	sinktest.Write(t, s, tbl, rows)
	return s, sch, tbl, rows
}

func eventRows(t testing.TB, tbl *schema.Table, n, offset int) []schematest.Row {
	now := time.Now().UTC().Truncate(time.Microsecond)
	rows := make([]schematest.Row, n)
	for i := range rows {
		rows[i] = row(t, tbl, mapSource{
			"event.id": fmt.Sprintf("ev-%08d", offset+i), "event.name": "LaunchReferEvent",
			"event.timestamp": now.Add(-time.Duration(i) * time.Second), "meta.insert_time": now,
			"header.sessionId": "s-1", "header.userId": "u-" + strconv.Itoa(i%100), "header.deviceId": "d-1",
			"header.os": "android", "header.appVersion": "5.12.0", "header.channel": "play_store",
			"payload.referrer_id": "u-7", "payload.referral_code": "FRIEND50", "payload.campaign": "diwali",
			"payload.source": "referral", "payload.medium": "share", "payload.deep_link": "app://home",
		})
	}
	return rows
}

func TestMigrateCreatesEveryDefaultTable(t *testing.T) {
	s, sch := newSink(t)
	ctx := context.Background()
	tables := sinktest.DefaultTables()
	check := func(t *testing.T) {
		for _, tbl := range tables {
			tx, err := s.pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			have, err := columns(ctx, tx, sch, tbl.Name)
			tx.Rollback(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(have) != len(tbl.Columns) {
				t.Errorf("%s: %d columns, declared %d", tbl.Name, len(have), len(tbl.Columns))
			}
			for _, c := range tbl.Columns {
				if got, want := have[c.Name], canonicalType(schema.Postgres.ColumnType(c.Type)); got != want {
					t.Errorf("%s.%s: type %q, want %q", tbl.Name, c.Name, got, want)
				}
			}
			key := scalar[string](t, s, `SELECT string_agg(a.attname, ',' ORDER BY array_position(i.indkey, a.attnum))
				FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
				WHERE i.indrelid = $1::regclass AND i.indisprimary`, schema.Qualify(sch, tbl.Name))
			if want := strings.Join(tbl.UniqueKey(), ","); key != want {
				t.Errorf("%s: primary key %s, want %s", tbl.Name, key, want)
			}
		}
	}
	if err := s.Migrate(ctx, tables); err != nil {
		t.Fatal(err)
	}
	check(t)
	if err := s.Migrate(ctx, tables); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	check(t)
}

// Two instances migrating at once do not trip over each other.
func TestConcurrentMigrations(t *testing.T) {
	s, sch := newSink(t)
	s2, err := New(context.Background(), s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close(context.Background())
	tables := []*schema.Table{schema.UserAccountTable(), schema.ReferralEventTable(), allTypes()}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, x := range []*Sink{s, s2} {
		wg.Go(func() { errs <- x.Migrate(context.Background(), tables) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := scalar[int64](t, s, "SELECT count(*) FROM pg_tables WHERE schemaname = $1", sch); n != 3 {
		t.Fatalf("%d tables", n)
	}
}

func TestMigrateAddsDeclaredColumns(t *testing.T) {
	s, _, _, _ := allTypesSink(t, 3)
	ctx := context.Background()
	tbl2 := allTypes()
	for _, typ := range []schema.Type{schema.String, schema.Int32, schema.Int64, schema.Float64, schema.Bool,
		schema.DateTime, schema.Date, schema.JSON, schema.Strings} {
		tbl2.Columns = append(tbl2.Columns, schema.Column{Name: "extra_" + strings.ToLower(string(typ)), Type: typ, From: "x"})
	}
	sinktest.Migrate(t, s, tbl2)
	// Old rows read the zero values of the new columns.
	_, rows := sinktest.Query(t, s, "SELECT extra_string, extra_int32, extra_int64, extra_float64, extra_bool, extra_datetime AT TIME ZONE 'UTC', extra_date, extra_json, extra_strings FROM all_types ORDER BY id LIMIT 1", 0)
	if want := []string{"", "0", "0", "0", "f", "1970-01-01 00:00:00", "1970-01-01", "{}", "{}"}; !reflect.DeepEqual(rows[0], want) {
		t.Errorf("old row reads %q, want %q", rows[0], want)
	}
	sinktest.Write(t, s, tbl2, []schematest.Row{row(t, tbl2, mapSource{"id": "new", "at": time.Now(), "x": "1"})})
	if err := s.Migrate(ctx, []*schema.Table{tbl2}); err != nil {
		t.Fatalf("migrate again: %v", err)
	}
}

func TestWriteReadsBackTypedValues(t *testing.T) {
	s, sch, tbl, rows := allTypesSink(t, 50)
	// jsonb normalises the text: compare it as PostgreSQL prints it.
	for i, r := range rows {
		r[tbl.Index("doc")] = fmt.Sprintf(`{"i": %d, "s": "é\t\"q\""}`, i)
	}
	sinktest.SameRows(t, tbl, readAllTypes(t, s, sch, tbl), rows)
}

func TestWriteTwiceLeavesOneRowPerKey(t *testing.T) {
	s, sch := newSink(t)
	tbl := schema.ReferralEventTable()
	sinktest.Migrate(t, s, tbl)
	rows := eventRows(t, tbl, 1000, 0)
	// The batch itself repeats some rows too.
	batch := append(append([]schematest.Row{}, rows...), rows[:100]...)
	for range 2 {
		sinktest.Write(t, s, tbl, batch)
	}
	if n := scalar[int64](t, s, "SELECT count(*) FROM "+schema.Qualify(sch, tbl.Name)); n != int64(len(rows)) {
		t.Fatalf("count %d, want %d", n, len(rows))
	}
}

// Rows the server refuses for their data fail alone; the others commit.
func TestWriteServerRejectedRowsAreIsolated(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, sch := newSink(t, func(c *Config) { c.Registerer = reg })
	ctx := context.Background()
	tbl := allTypes()
	sinktest.Migrate(t, s, tbl)
	rows := allTypesRows(t, tbl, 100)
	kind, doc := tbl.Index("kind"), tbl.Index("doc")
	rows[3][kind] = "nul\x00byte"                // text cannot hold NUL: 22021
	rows[50][kind] = "bad utf-8 \xff\xfe"        // invalid UTF-8: 22021
	rows[88][doc] = `{"s": "nul \u0000 escape"}` // jsonb refuses \u0000: 22P05
	for i, e := range sinktest.Failed(t, s.Write(ctx, sinktest.Batch(t, tbl, rows)), 3, 50, 88) {
		var pe *pgconn.PgError
		if !fault.IsPermanent(e) || !errors.As(e, &pe) || !strings.HasPrefix(pe.Code, "22") {
			t.Errorf("row %d: %v", i, e)
		}
	}
	if n := scalar[int64](t, s, "SELECT count(*) FROM "+schema.Qualify(sch, tbl.Name)); n != 97 {
		t.Fatalf("%d rows committed, want 97", n)
	}
	if splits := testutil.ToFloat64(s.m.Splits.WithLabelValues(tbl.Name)); splits == 0 || splits > 3*2*7 {
		t.Errorf("%v partial writes for 3 bad rows in 100", splits)
	}
}

// user_account merges its two kinds of message, in any order, in one batch
// or several.
func TestUserAccountMerge(t *testing.T) {
	tbl := schema.UserAccountTable()
	t1 := "2024-06-01T10:00:00Z"
	t2 := "2024-06-02T10:00:00Z"
	t3 := "2024-06-03T10:00:00Z"
	src := func(doc map[string]any) schematest.Source {
		return schematest.JSONSource{Doc: doc, Meta: map[string]any{"insert_time": time.Now()}}
	}
	create := src(map[string]any{"user_id": "u-1", "name": "Asha Rao", "email": "asha@example.com", "phone": "+919800000001",
		"signup_source": "app", "created_at": t1, "updated_at": t1})
	complete := src(map[string]any{"user_id": "u-1", "profile_completed": true, "profile_completed_at": t2,
		"gender": "female", "city": "Pune", "updated_at": t2})
	stale := src(map[string]any{"user_id": "u-1", "name": "Old Name", "updated_at": t1})
	rename := src(map[string]any{"user_id": "u-1", "name": "Asha R.", "updated_at": t3})

	want := map[string]string{"name": "Asha R.", "email": "asha@example.com", "phone": "+919800000001", "city": "Pune",
		"gender": "female", "profile_completed": "t", "signup_source": "app"}
	orders := map[string][][]schematest.Source{
		"one batch, in order":       {{create, complete, stale, rename}},
		"one batch, reversed":       {{rename, stale, complete, create}},
		"separate writes, in order": {{create}, {complete}, {stale}, {rename}},
		"separate writes, reversed": {{rename}, {stale}, {complete}, {create}},
		"redelivered":               {{create, complete}, {rename}, {create, complete, stale}},
	}
	for name, batches := range orders {
		t.Run(name, func(t *testing.T) {
			s, sch := newSink(t)
			ctx := context.Background()
			if err := s.Migrate(ctx, []*schema.Table{tbl}); err != nil {
				t.Fatal(err)
			}
			for _, b := range batches {
				var rows []schematest.Row
				for _, src := range b {
					rows = append(rows, row(t, tbl, src))
				}
				sinktest.Write(t, s, tbl, rows)
			}
			cols, got, err := s.Query(ctx, "SELECT name, email, phone, city, gender, profile_completed, signup_source, "+
				"updated_at AT TIME ZONE 'UTC', created_at AT TIME ZONE 'UTC' FROM "+schema.Qualify(sch, tbl.Name), 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("%d rows", len(got))
			}
			for i, c := range cols[:7] {
				if got[0][i] != want[c] {
					t.Errorf("%s = %q, want %q", c, got[0][i], want[c])
				}
			}
			if got[0][7] != "2024-06-03 10:00:00" || got[0][8] != "2024-06-01 10:00:00" {
				t.Errorf("updated_at %s created_at %s", got[0][7], got[0][8])
			}
		})
	}
}

// server is the local server for the tests of a server that goes away or
// hangs, behind a proxy.
func server() sinktest.Server {
	tbl := schema.ReferralEventTable()
	return sinktest.Server{
		Addr:  pgAddr,
		Table: tbl,
		Rows:  func(t testing.TB, n, offset int) []schematest.Row { return eventRows(t, tbl, n, offset) },
		Open: func(t *testing.T, port int) (sink.Sink, func() int) {
			s, sch := newSink(t, func(c *Config) { c.Port = port })
			return s, func() int { return int(scalar[int64](t, s, "SELECT count(*) FROM "+schema.Qualify(sch, tbl.Name))) }
		},
		New: func(port int) (sink.Sink, error) {
			return New(context.Background(), Config{Port: port, User: pgUser, DB: pgDB, Logger: quiet, ConnectTimeout: time.Second})
		},
	}
}

func TestServerGoneIsTransient(t *testing.T) { server().TestGone(t) }

func TestHungServerIsBoundedByDeadline(t *testing.T) { server().TestHung(t) }

func TestQuery(t *testing.T) {
	s, sch, tbl, _ := allTypesSink(t, 5)
	cols, rows := sinktest.Query(t, s, "-- newest first\nSELECT id, n32, ok, at AT TIME ZONE 'UTC' AS at, day, tags, doc, NULL AS nothing FROM all_types ORDER BY id DESC LIMIT 2;", 10)
	if want := []string{"id", "n32", "ok", "at", "day", "tags", "doc", "nothing"}; !reflect.DeepEqual(cols, want) {
		t.Errorf("columns %v", cols)
	}
	want := []string{"id-00004", "-4", "t", "2024-06-10 12:30:15.123456", "2024-06-10", "{a,4}", `{"i": 4, "s": "é\\t\\"q\\""}`, `\N`}
	if len(rows) != 2 || !reflect.DeepEqual(rows[0], want) {
		t.Errorf("rows %q\nwant first %q", rows, want)
	}
	sinktest.Refused(t, s,
		"SELECT generate_series(1, 20)", // more rows than allowed
		"INSERT INTO all_types (id) VALUES ('x')",
		"DROP TABLE all_types",
		"SELECT 1; DROP TABLE all_types",
		`SELECT 'a\'; COMMIT; DROP TABLE all_types; --'`,
		"WITH d AS (DELETE FROM all_types RETURNING id) SELECT * FROM d",
		"SELECT nextval('x')",
		"SELECT * FROM no_such_table",
		"",
	)
	if n := scalar[int64](t, s, "SELECT count(*) FROM "+schema.Qualify(sch, tbl.Name)); n != 5 {
		t.Errorf("count %d after refused statements", n)
	}
}

func TestReadOnly(t *testing.T) {
	sinktest.CheckReadOnly(t, ReadOnly, []string{
		"SELECT 1",
		"  select 1 ;  ",
		"/* c /* nested */ ; */ WITH x AS (SELECT 1) SELECT * FROM x",
		"SHOW search_path",
		"VALUES (1), (2)",
		"TABLE t",
		"EXPLAIN SELECT 1",
		"SELECT ';' AS semi, \"a;b\" FROM t",
		"SELECT $$;$$, $tag$ ; $tag$",
		"SELECT E'\\';' ",
		"SELECT 1 -- trailing; comment",
	}, []string{
		"SELECT 'a\\'; DROP TABLE t; --'", // standard strings: the literal ends at \'
		"SELECT 1; SELECT 2",
		"INSERT INTO t VALUES (1)",
		"DELETE FROM t",
		"COPY t TO STDOUT",
		"/* SELECT */ TRUNCATE t",
		"",
		";",
	})
}

func TestClassify(t *testing.T) {
	tests := []struct {
		code string
		want fault.Kind
	}{
		{"22021", fault.KindPermanent},
		{"22P05", fault.KindPermanent},
		{"23502", fault.KindPermanent},
		{"08006", fault.KindTransient},
		{"53300", fault.KindThrottled},
		{"57P01", fault.KindTransient},
		{"40001", fault.KindTransient},
		{"40P01", fault.KindTransient},
		{"42P01", fault.KindTransient},
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			if got := fault.KindOf(classify(fmt.Errorf("x: %w", &pgconn.PgError{Code: tc.code}))); got != tc.want {
				t.Errorf("%s: %v, want %v", tc.code, got, tc.want)
			}
		})
	}
	if got := fault.KindOf(classify(context.DeadlineExceeded)); got != fault.KindTransient {
		t.Errorf("deadline: %v", got)
	}
}

func TestUpsertSQL(t *testing.T) {
	tbl := &schema.Table{
		Name: "acct", Store: schema.Transactional, OrderBy: []string{"id"}, Version: "v", PartitionBy: "v",
		Columns: []schema.Column{
			{Name: "id", Type: schema.String, Required: true},
			{Name: "name", Type: schema.String},
			{Name: "v", Type: schema.DateTime},
		},
	}
	want := `INSERT INTO "s"."acct" AS cur ("id", "name", "v") SELECT "id", "name", "v" FROM "event_grpc_stage" ON CONFLICT ("id") ` +
		`DO UPDATE SET "name" = CASE WHEN EXCLUDED."name" <> '' AND (EXCLUDED."v" > cur."v" OR cur."name" = '') THEN EXCLUDED."name" ELSE cur."name" END, ` +
		`"v" = GREATEST(cur."v", EXCLUDED."v") WHERE EXCLUDED."v" > cur."v" OR (cur."name" = '' AND EXCLUDED."name" <> '')`
	if got := upsertSQL(tbl, `"s"."acct"`); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	tbl.Version = ""
	want = `INSERT INTO "s"."acct" AS cur ("id", "name", "v") SELECT "id", "name", "v" FROM "event_grpc_stage" ON CONFLICT ("id") DO NOTHING`
	if got := upsertSQL(tbl, `"s"."acct"`); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestCloseTwice(t *testing.T) {
	s, err := New(context.Background(), Config{User: pgUser, DB: pgDB, Logger: quiet, MaxConns: 2, MinConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	componenttest.StopTwice(t, context.Background(), s.Close)
}

func BenchmarkWritePostgres(b *testing.B) {
	s, sch := newSink(b)
	ctx := context.Background()
	tbl := schema.ReferralEventTable()
	if err := s.Migrate(ctx, []*schema.Table{tbl}); err != nil {
		b.Fatal(err)
	}
	const batch = 10000
	b.ResetTimer()
	written := 0
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		rows := sinktest.Batch(b, tbl, eventRows(b, tbl, batch, i*batch)) // new keys every time: the COPY and INSERT path, not conflicts
		b.StartTimer()
		if err := s.Write(ctx, rows); err != nil {
			b.Fatal(err)
		}
		written += batch
	}
	b.StopTimer()
	b.ReportMetric(float64(written)/b.Elapsed().Seconds(), "rows/s")
	if n := scalar[int64](b, s, "SELECT count(*) FROM "+schema.Qualify(sch, tbl.Name)); n != int64(written) {
		b.Fatalf("count %d, want %d", n, written)
	}
}
