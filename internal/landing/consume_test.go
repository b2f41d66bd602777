package landing

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/sink"
	"github.com/event-grpc/event-grpc/internal/sink/duckdb"
	"github.com/event-grpc/event-grpc/internal/sink/sinktest"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// store is a real embedded DuckDB holding every default table.
func store(t *testing.T) (*duckdb.Sink, schema.Catalog) {
	t.Helper()
	ctx := context.Background()
	s, err := duckdb.New(ctx, duckdb.Config{Path: filepath.Join(t.TempDir(), "c.duckdb")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(ctx) })
	if err := s.Migrate(ctx, sinktest.DefaultTables()); err != nil {
		t.Fatal(err)
	}
	return s, schema.Default()
}

func handler(t *testing.T, s sink.Sink, cat schema.Catalog, queue string) *Handler {
	t.Helper()
	q, ok := topology.Default().Queue(queue)
	if !ok {
		t.Fatalf("no queue %s", queue)
	}
	h, err := New(q, cat, func(*schema.Table) sink.Sink { return s }, nil, must(NewMetrics(nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func eventsBody(t *testing.T, parts ...*eventgrpcv1.Events) []byte {
	t.Helper()
	var body []byte
	for _, p := range parts {
		b, err := proto.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		body = protowire.AppendVarint(body, uint64(len(b)))
		body = append(body, b...)
	}
	return body
}

func one(t *testing.T, s *duckdb.Sink, q string) string {
	t.Helper()
	_, rows, err := s.Query(context.Background(), q, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		return ""
	}
	return strings.Join(rows[0], "|")
}

func TestEventsToTypedTables(t *testing.T) {
	s, cat := store(t)
	ts := time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)
	body := eventsBody(t, &eventgrpcv1.Events{
		Header: &eventgrpcv1.Header{UserId: "u1", SessionId: "s1"},
		Events: []*eventgrpcv1.Event{{
			Id: "lr-1", Timestamp: strconv.FormatInt(ts.UnixMilli(), 10),
			EventOf: &eventgrpcv1.Event_LaunchReferEvent{LaunchReferEvent: &eventgrpcv1.LaunchReferEvent{ReferrerId: "ref-9", ReferralCode: "DIWALI50", Campaign: "festive"}},
		}},
	})
	d := broker.Delivery{Queue: "launch_refer_event_q", Body: body, Headers: map[string]string{broker.HeaderInsertTime: strconv.FormatInt(ts.Add(time.Second).UnixMilli(), 10)}}
	h := handler(t, s, cat, "launch_refer_event_q")
	for range 2 { // a redelivery makes no second row
		if err := h.Handle(context.Background(), []broker.Delivery{d}); err != nil {
			t.Fatal(err)
		}
	}
	if got := one(t, s, "SELECT count(*), any_value(referrer_id), any_value(referral_code), any_value(user_id), any_value(event_timestamp), any_value(insert_timestamp) FROM launch_refer_event"); got != "1|ref-9|DIWALI50|u1|2026-11-27 09:30:00|2026-11-27 09:30:01" {
		t.Fatalf("launch_refer_event = %s", got)
	}
	if got := one(t, s, "SELECT count(*) FROM referral_event"); got != "1" {
		t.Fatalf("referral_event rows = %s, want 1 (both tables of the queue)", got)
	}
}

func TestBadMessageFailsAlone(t *testing.T) {
	s, cat := store(t)
	h := handler(t, s, cat, "trace_log")
	good := `{"id":"req-1","trace_id":"t-1","service_name":"identity","host_name":"id-1","method":"GET","uri":"/v1/me","status_code":200,"time_taken_ms":12,"timestamp":"2026-11-27T09:30:00Z"}`
	batch := []broker.Delivery{
		{Queue: "trace_log", Body: []byte(good)},
		{Queue: "trace_log", Body: []byte(`{"trace_id":`)},                         // not JSON
		{Queue: "trace_log", Body: []byte(`"just a string"`)},                      // not an object
		{Queue: "trace_log", Body: []byte(strings.Replace(good, `200`, `"x"`, 1))}, // wrong type
	}
	err := h.Handle(context.Background(), batch)
	var fm *broker.FailedMessages
	if !errors.As(err, &fm) {
		t.Fatalf("err = %v, want *broker.FailedMessages", err)
	}
	if len(fm.Failed) != 3 || fm.Failed[0] != nil {
		t.Fatalf("failed = %v, want #1-#3 only", fm.Failed)
	}
	for i, e := range fm.Failed {
		if !fault.IsPermanent(e) {
			t.Fatalf("#%d: %v is not permanent", i, e)
		}
	}
	if !strings.Contains(fm.Failed[3].Error(), "status_code") {
		t.Fatalf("wrong-type error does not name the column: %v", fm.Failed[3])
	}
	if got := one(t, s, "SELECT count(*), any_value(service_name) FROM trace_log"); got != "1|identity" {
		t.Fatalf("trace_log = %s", got)
	}
}

func TestStoreDownIsTransient(t *testing.T) {
	s, cat := store(t)
	h := handler(t, s, cat, "grpc_clickhouse_event_q")
	s.Close(context.Background())
	body := eventsBody(t, &eventgrpcv1.Events{Events: []*eventgrpcv1.Event{{Id: "x", Timestamp: "1795000000000", EventOf: &eventgrpcv1.Event_TestEvent{TestEvent: &eventgrpcv1.TestEvent{}}}}})
	err := h.Handle(context.Background(), []broker.Delivery{{Body: body}})
	var fm *broker.FailedMessages
	if err == nil || errors.As(err, &fm) || fault.IsPermanent(err) {
		t.Fatalf("err = %v, want a transient error that holds the whole batch", err)
	}
}

func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(`{"a":1}`))
	f.Add([]byte(`[{"a":1},{"b":"x"}]`))
	f.Add([]byte(`[1,2]`))
	f.Add([]byte(`{"a":`))
	f.Fuzz(func(t *testing.T, b []byte) {
		srcs, err := DecodeJSON(broker.Delivery{Body: b})
		if err != nil {
			if !fault.IsPermanent(err) {
				t.Fatalf("decode error %v is not permanent", err)
			}
			return
		}
		for _, s := range srcs {
			if s.MessageID == "" {
				t.Fatal("no message id")
			}
		}
		// Every JSON-fed table's compiled mapping takes the objects or
		// names the column at fault; it never panics.
		rows, err := jsonRows("q", broker.Delivery{Body: b}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, mp := range jsonMappers {
			batch := schema.NewBatch(mp.Table())
			for i := range rows {
				if err := mp.Append(batch, &rows[i]); err != nil {
					var ce *schema.ColumnError
					if !errors.As(err, &ce) {
						t.Fatalf("%s: %v is not a ColumnError", mp.Table().Name, err)
					}
				}
			}
		}
	})
}

// jsonMappers are the compiled mappings of every JSON-fed table.
var jsonMappers = func() []*schema.Mapper[*schema.JSONRow] {
	var out []*schema.Mapper[*schema.JSONRow]
	for _, n := range schema.Default().Names() {
		if mp, err := schema.CompileJSON(schema.Default()[n]); err == nil {
			out = append(out, mp)
		}
	}
	return out
}()

func FuzzDecodeEvents(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x02, 0x12, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		mp, err := schema.CompileEvents(schema.EventTable())
		if err != nil {
			t.Fatal(err)
		}
		batch := schema.NewBatch(schema.EventTable())
		var row schema.EventRow
		err = eventRows(broker.Delivery{Body: b}, &row, func(r *schema.EventRow) error {
			mp.Append(batch, r) // must not panic
			return nil
		})
		if err != nil && !fault.IsPermanent(err) {
			t.Fatalf("decode error %v is not permanent", err)
		}
	})
}
