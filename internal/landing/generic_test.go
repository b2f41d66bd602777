package landing

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/sink"
	"github.com/event-grpc/event-grpc/internal/sink/clickhouse"
	"github.com/event-grpc/event-grpc/internal/sink/duckdb"
	"github.com/event-grpc/event-grpc/internal/sink/postgres"
)

// genericProps is free-form JSON of every kind a Segment client sends.
const genericProps = `{"revenue":49.5,"count":3,"big":1e21,"neg":-0.25,"paid":true,"gift":false,"none":null,
"name":"Zoë 日本語 🎉 \"quoted\" \\ back\nline","items":[{"sku":"a-1","qty":2,"tags":["x","y"]},{"sku":"b-2","qty":1,"tags":[]}],
"nested":{"deep":{"deeper":{"x":1}}},"empty":{},"list":[1,"two",true,null,[3]]}`

func mustStruct(t *testing.T, js string) *structpb.Struct {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatal(err)
	}
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestGenericEventsLandInEveryStore: each generic event type, through its
// queue of the default topology, lands once (a redelivery makes no second
// row) in its table in DuckDB, PostgreSQL and ClickHouse — real servers —
// with its properties, traits and context intact as JSON.
func TestGenericEventsLandInEveryStore(t *testing.T) {
	ctx := context.Background()
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	cat := schema.Default()
	names := []string{"tracks", "identifies", "pages", "screens", "groups", "aliases"}
	var tables []*schema.Table
	for _, n := range names {
		tables = append(tables, cat[n])
	}
	type store struct {
		name string
		s    sink.Sink
		q    func(table string) string // the table's name in a query, deduplicated
	}
	var stores []store

	dd, err := duckdb.New(ctx, duckdb.Config{Path: filepath.Join(t.TempDir(), "g.duckdb")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dd.Close(ctx) })
	stores = append(stores, store{"duckdb", dd, func(tb string) string { return tb }})

	if out, err := exec.Command("../../scripts/ensure-postgres.sh").CombinedOutput(); err != nil {
		t.Fatalf("PostgreSQL is needed: %v\n%s", err, out)
	}
	pgSchema := "generic_" + suffix
	pg, err := postgres.New(ctx, postgres.Config{User: "postgres", DB: "test", Schema: pgSchema, MaxConns: 2, MinConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pg.Close(ctx)
		if out, err := exec.Command("psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-c", "DROP SCHEMA IF EXISTS "+pgSchema+" CASCADE").CombinedOutput(); err != nil {
			t.Errorf("drop schema: %v\n%s", err, out)
		}
	})
	stores = append(stores, store{"postgres", pg, func(tb string) string { return pgSchema + "." + tb }})

	if out, err := exec.Command("../../scripts/ensure-clickhouse.sh").CombinedOutput(); err != nil {
		t.Fatalf("ClickHouse is needed: %v\n%s", err, out)
	}
	chDB := "eggeneric_" + suffix
	ch, err := clickhouse.New(ctx, clickhouse.Config{Databases: []string{chDB}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ch.Close(ctx)
		exec.Command("clickhouse-client", "-q", "DROP DATABASE IF EXISTS "+chDB).Run()
	})
	stores = append(stores, store{"clickhouse", ch, func(tb string) string { return chDB + "." + tb + " FINAL" }})

	ts := time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)
	ms := strconv.FormatInt(ts.UnixMilli(), 10)
	context1 := `{"library":{"name":"analytics-go","version":"3.3.0"},"ip":"203.0.113.9","locale":"fr-FR","page":{"path":"/checkout"}}`
	base := func(id string) *eventgrpcv1.Event {
		return &eventgrpcv1.Event{Id: id, Timestamp: ms, UserId: "user-42", AnonymousId: "anon-7",
			Context: mustStruct(t, context1), Integrations: mustStruct(t, `{"All":true,"Mixpanel":false}`)}
	}
	props := mustStruct(t, genericProps)
	type want struct {
		queue, table string
		ev           *eventgrpcv1.Event
		cols         string // columns checked besides the JSON one
		vals         []string
		jsonCol      string
		json         string
	}
	cases := []want{}
	e := base("trk-1")
	e.EventOf = &eventgrpcv1.Event_TrackEvent{TrackEvent: &eventgrpcv1.TrackEvent{Name: "Order Completed", Properties: props}}
	cases = append(cases, want{"generic_track_q", "tracks", e, "event", []string{"Order Completed"}, "properties", genericProps})
	e = base("idf-1")
	e.EventOf = &eventgrpcv1.Event_IdentifyEvent{IdentifyEvent: &eventgrpcv1.IdentifyEvent{Traits: props}}
	cases = append(cases, want{"generic_identify_q", "identifies", e, "user_id", []string{"user-42"}, "traits", genericProps})
	e = base("pg-1")
	e.EventOf = &eventgrpcv1.Event_PageEvent{PageEvent: &eventgrpcv1.PageEvent{Name: "Pricing", Category: "Docs", Properties: props}}
	cases = append(cases, want{"generic_page_q", "pages", e, "name", []string{"Pricing"}, "properties", genericProps})
	e = base("scr-1")
	e.EventOf = &eventgrpcv1.Event_ScreenEvent{ScreenEvent: &eventgrpcv1.ScreenEvent{Name: "Home", Category: "Main", Properties: props}}
	cases = append(cases, want{"generic_screen_q", "screens", e, "category", []string{"Main"}, "properties", genericProps})
	e = base("grp-1")
	e.EventOf = &eventgrpcv1.Event_GroupEvent{GroupEvent: &eventgrpcv1.GroupEvent{GroupId: "acme", Traits: props}}
	cases = append(cases, want{"generic_group_q", "groups", e, "group_id", []string{"acme"}, "traits", genericProps})
	e = base("als-1")
	e.EventOf = &eventgrpcv1.Event_AliasEvent{AliasEvent: &eventgrpcv1.AliasEvent{PreviousId: "anon-7"}}
	cases = append(cases, want{"generic_alias_q", "aliases", e, "previous_id", []string{"anon-7"}, "context", context1})

	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			if err := st.s.Migrate(ctx, tables); err != nil {
				t.Fatal(err)
			}
			for _, c := range cases {
				h := handler(t, st.s, cat, c.queue)
				body := eventsBody(t, &eventgrpcv1.Events{Header: &eventgrpcv1.Header{SessionId: "s-1"}, Events: []*eventgrpcv1.Event{c.ev}})
				d := broker.Delivery{Queue: c.queue, Body: body, Headers: map[string]string{broker.HeaderInsertTime: strconv.FormatInt(ts.Add(time.Second).UnixMilli(), 10)}}
				for range 2 { // a redelivery makes no second row
					if err := h.Handle(ctx, []broker.Delivery{d}); err != nil {
						t.Fatal(err)
					}
				}
				q := fmt.Sprintf("SELECT event_id, user_id, anonymous_id, session_id, %s, %s, context, integrations FROM %s", c.cols, c.jsonCol, st.q(c.table))
				_, rows, err := st.s.(sink.Querier).Query(ctx, q, 10)
				if err != nil {
					t.Fatal(err)
				}
				if len(rows) != 1 {
					t.Fatalf("%s: %d rows, want exactly 1: %v", c.table, len(rows), rows)
				}
				r := rows[0]
				if r[0] != c.ev.Id || r[1] != "user-42" || r[2] != "anon-7" || r[3] != "s-1" || r[4] != c.vals[0] {
					t.Errorf("%s: row %q", c.table, r[:5])
				}
				sameJSON(t, c.table+"."+c.jsonCol, r[5], c.json)
				sameJSON(t, c.table+".context", r[6], context1)
				sameJSON(t, c.table+".integrations", r[7], `{"All":true,"Mixpanel":false}`)
			}
		})
	}
}

// unTSV undoes the query endpoint's TSV escapes of a value (\\, \t, \n).
func unTSV(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case '\\':
				b.WriteByte('\\')
				i++
				continue
			case 't':
				b.WriteByte('\t')
				i++
				continue
			case 'n':
				b.WriteByte('\n')
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// sameJSON fails unless got (a query's TSV-escaped value) and want are the
// same JSON value.
func sameJSON(t *testing.T, what, got, want string) {
	t.Helper()
	got = unTSV(got)
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("%s is not JSON: %v: %s", what, err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s = %s\nwant %s", what, got, want)
	}
}
