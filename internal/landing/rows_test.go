package landing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/client/bench"
	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/event"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/schema/schematest"
)

// eventTables are the tables fed by events queues.
func eventTables(t testing.TB) []*schema.Table {
	var out []*schema.Table
	for _, tbl := range schema.Default() {
		if tbl.Index("event_id") >= 0 && tbl.Columns[tbl.Index("event_id")].From == "event.id" {
			out = append(out, tbl)
		}
	}
	if len(out) < 7 {
		t.Fatalf("only %d event tables", len(out))
	}
	return out
}

// sample is the realistic mix plus the edges the generator does not make.
func sample(t testing.TB) []*eventgrpcv1.Events {
	reqs, err := bench.Sample(3, 40, 50, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	reqs = append(reqs, &eventgrpcv1.Events{Events: []*eventgrpcv1.Event{ // no header at all
		{Id: "c1", Timestamp: "1700000000000", EventOf: &eventgrpcv1.Event_CustomEvent{CustomEvent: &eventgrpcv1.CustomEvent{Name: "Poll", Params: map[string]string{"b": "<&>", "a": "1"}}}},
		{Id: "c2", Timestamp: "1700000000001", EventOf: &eventgrpcv1.Event_CustomEvent{CustomEvent: &eventgrpcv1.CustomEvent{Name: "Empty"}}},
		{Id: "n1", Timestamp: "1700000000002", EventOf: &eventgrpcv1.Event_ErrorEvent{}},
		{Id: "a1", Timestamp: "1700000000003", EventOf: &eventgrpcv1.Event_AbAssignmentEvent{AbAssignmentEvent: &eventgrpcv1.AbAssignmentEvent{Bucket: -7, AssignedAt: 1700000000123, Exposed: true}}},
		{Id: "f1", Timestamp: "1700000000004", EventOf: &eventgrpcv1.Event_AppInitEvent{AppInitEvent: &eventgrpcv1.AppInitEvent{FailedSdks: []string{"a", "é"}, LoadTimeMs: -3}}},
	}})
	return reqs
}

// TestCompiledRowsEqualReference holds the compiled, columnar mapping to
// the row-at-a-time one it replaced, for every event table and every event
// of the realistic mix (80 types) and the edges.
func TestCompiledRowsEqualReference(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC)
	for _, tbl := range eventTables(t) {
		t.Run(tbl.Name, func(t *testing.T) {
			mp, err := schema.CompileEvents(tbl)
			if err != nil {
				t.Fatal(err)
			}
			b := schema.NewBatch(tbl)
			var want []schematest.Row
			for _, req := range sample(t) {
				for _, ev := range req.Events {
					name, _ := event.Name(ev)
					h := req.GetHeader()
					if h == nil {
						h = &eventgrpcv1.Header{}
					}
					wr, werr := schematest.Map(tbl, &refEventSource{Header: h, Event: ev, Name: name, InsertTime: at})
					gerr := mp.Append(b, &schema.EventRow{Header: req.GetHeader(), Event: ev, Type: event.TypeOf(ev), InsertTime: at})
					if (werr == nil) != (gerr == nil) {
						t.Fatalf("event %s: reference error %v, compiled error %v", ev.GetId(), werr, gerr)
					}
					if werr == nil {
						want = append(want, wr)
					}
				}
			}
			if b.Len() != len(want) || b.Len() == 0 {
				t.Fatalf("%d rows, reference %d", b.Len(), len(want))
			}
			for i, w := range want {
				got := schematest.RowOf(b, i)
				for c := range w {
					if !sameValue(tbl.Columns[c].Type, got[c], w[c]) {
						t.Fatalf("row %d column %s: got %#v, reference %#v", i, tbl.Columns[c].Name, got[c], w[c])
					}
				}
			}
		})
	}
}

func sameValue(ty schema.Type, got, want any) bool {
	switch ty {
	case schema.Strings:
		return fmt.Sprint(got) == fmt.Sprint(want)
	case schema.JSON:
		// The reference writes Struct values with protojson, whose
		// spacing is deliberately unstable; the compiled writer must give
		// the same value, written compactly.
		// the same value, written compactly (and, where the reference is
		// compact too, byte for byte: keys sorted the same way).
		var g, w any
		var cg, cw bytes.Buffer
		if json.Unmarshal([]byte(got.(string)), &g) != nil || json.Unmarshal([]byte(want.(string)), &w) != nil ||
			json.Compact(&cg, []byte(got.(string))) != nil || json.Compact(&cw, []byte(want.(string))) != nil {
			return false
		}
		return reflect.DeepEqual(g, w) && cg.String() == got && cg.String() == cw.String()
	}
	return reflect.DeepEqual(got, want)
}

// TestTypeFromEventNotRoutingKey: one message holding events of several
// types (JetStream packs per destination queue) lands each in its own
// type's rows, whatever the routing key says.
func TestTypeFromEventNotRoutingKey(t *testing.T) {
	body, err := event.AppendEvents(nil, &eventgrpcv1.Events{Events: []*eventgrpcv1.Event{
		{Id: "e1", Timestamp: "1700000000000", EventOf: &eventgrpcv1.Event_ErrorEvent{ErrorEvent: &eventgrpcv1.ErrorEvent{ErrorCode: "E1"}}},
		{Id: "c1", Timestamp: "1700000000000", EventOf: &eventgrpcv1.Event_ClickEvent{ClickEvent: &eventgrpcv1.ClickEvent{ElementId: "btn"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var row schema.EventRow
	err = eventRows(broker.Delivery{RoutingKey: "LaunchEvent", Body: body}, &row, func(r *schema.EventRow) error {
		names = append(names, r.Type.String())
		return nil
	})
	if err != nil || fmt.Sprint(names) != "[ErrorEvent ClickEvent]" {
		t.Fatalf("types %v, %v", names, err)
	}
	// An event without a payload fails its message permanently.
	body, _ = event.AppendEvents(nil, &eventgrpcv1.Events{Events: []*eventgrpcv1.Event{{Id: "x"}}})
	err = eventRows(broker.Delivery{Body: body}, &row, func(*schema.EventRow) error { return nil })
	if !fault.IsPermanent(err) {
		t.Fatalf("no payload: %v, want permanent", err)
	}
}

// TestJSONContentID: objects without an id of their own get one from what
// they hold: the same body (a redelivery, or the same object at another
// position) the same id; different bodies, or another queue, different ids;
// a publisher's message id is not trusted for it.
func TestJSONContentID(t *testing.T) {
	ids := func(queue, id, body string) []string {
		rows, err := jsonRows(queue, broker.Delivery{ID: id, Body: []byte(body)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rows {
			out = append(out, r.MessageID)
		}
		return out
	}
	a := ids("q", "m1", `{"k":1}`)
	if again := ids("q", "m1", `{"k":1}`); again[0] != a[0] {
		t.Error("a redelivery got another id")
	}
	if other := ids("q", "m1", `{"k":2}`); other[0] == a[0] {
		t.Error("two bodies under one publisher message id collapse")
	}
	if other := ids("q2", "m1", `{"k":1}`); other[0] == a[0] {
		t.Error("the queue is not part of the id")
	}
	arr := ids("q", "m9", `[{"k":2},{"k":1}]`)
	if arr[0] == arr[1] || arr[1] != a[0] {
		t.Errorf("array ids %v: want distinct, the second equal to the lone object's %s", arr, a[0])
	}
	if ids("q", "", `{"k":1}`)[0] != a[0] {
		t.Error("the broker message id changes the content id")
	}
}

// TestJSONTimesThatAreNotTimes: numbers that cannot be times are refused
// with a reason (a permanent error: the message goes to the error queue),
// never turned into overflowed times.
func TestJSONTimesThatAreNotTimes(t *testing.T) {
	tbl := &schema.Table{Name: "t", Store: schema.Analytics, OrderBy: []string{"id"}, Columns: []schema.Column{
		{Name: "id", Type: schema.String, From: "$.id"}, {Name: "at", Type: schema.DateTime, From: "$.at"},
	}}
	mp, err := schema.CompileJSON(tbl)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{`1e30`, `-1`, `9223372036854775807`, `1e400`, `"NaN"`, `"Inf"`, `"-Infinity"`, `"1e30"`, `"-5"`, `253402300800000`} {
		rows, err := jsonRows("q", broker.Delivery{Body: []byte(`{"id":"a","at":` + v + `}`)}, nil)
		if err != nil {
			if v == `1e400` && fault.IsPermanent(err) { // not even a JSON number Go reads
				continue
			}
			t.Fatalf("%s: %v", v, err)
		}
		b := schema.NewBatch(tbl)
		err = mp.Append(b, &rows[0])
		if err == nil {
			t.Errorf("at=%s was taken as %v", v, b.Cols[1].Time[0])
			continue
		}
		if b.Len() != 0 {
			t.Errorf("at=%s: a refused row was appended", v)
		}
	}
	// Good times still pass: seconds, milliseconds, text.
	for v, want := range map[string]time.Time{
		`1700000000`: time.Unix(1700000000, 0).UTC(), `1700000000123`: time.UnixMilli(1700000000123).UTC(),
		`"2024-06-10T08:30:15Z"`: time.Date(2024, 6, 10, 8, 30, 15, 0, time.UTC), `0`: time.Unix(0, 0).UTC(),
	} {
		rows, _ := jsonRows("q", broker.Delivery{Body: []byte(`{"id":"a","at":` + v + `}`)}, nil)
		b := schema.NewBatch(tbl)
		if err := mp.Append(b, &rows[0]); err != nil || !b.Cols[1].Time[0].Equal(want) {
			t.Errorf("at=%s: %v, %v; want %v", v, b.Cols[1].Time, err, want)
		}
	}
}
