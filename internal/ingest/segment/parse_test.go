package segment

import (
	"strconv"
	"strings"
	"testing"
	"time"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/event"
)

var recv = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func TestParseCalls(t *testing.T) {
	for _, tc := range []struct {
		call, body, typ string
		check           func(*eventgrpcv1.Event) bool
	}{
		{CallTrack, `{"userId":"u1","event":"Order Completed","properties":{"revenue":49.5,"items":[{"sku":"a"}]},"messageId":"m1"}`, "TrackEvent",
			func(e *eventgrpcv1.Event) bool {
				return e.GetTrackEvent().GetName() == "Order Completed" && e.Id == "m1" &&
					string(event.AppendStruct(nil, e.GetTrackEvent().GetProperties())) == `{"items":[{"sku":"a"}],"revenue":49.5}`
			}},
		{CallIdentify, `{"userId":42,"traits":{"email":"a@b.c"}}`, "IdentifyEvent",
			func(e *eventgrpcv1.Event) bool {
				return e.UserId == "42" && e.GetIdentifyEvent().GetTraits().GetFields()["email"].GetStringValue() == "a@b.c"
			}},
		{CallPage, `{"anonymousId":"a1","name":"Home","category":"Docs","properties":{"path":"/"}}`, "PageEvent",
			func(e *eventgrpcv1.Event) bool {
				return e.AnonymousId == "a1" && e.GetPageEvent().GetCategory() == "Docs"
			}},
		{CallScreen, `{"anonymousId":"a1","name":"Cart"}`, "ScreenEvent",
			func(e *eventgrpcv1.Event) bool { return e.GetScreenEvent().GetName() == "Cart" }},
		{CallGroup, `{"userId":"u1","groupId":7,"traits":{"name":"Acme"}}`, "GroupEvent",
			func(e *eventgrpcv1.Event) bool { return e.GetGroupEvent().GetGroupId() == "7" }},
		{CallAlias, `{"userId":"u1","previousId":"a1"}`, "AliasEvent",
			func(e *eventgrpcv1.Event) bool { return e.GetAliasEvent().GetPreviousId() == "a1" }},
	} {
		t.Run(tc.call, func(t *testing.T) {
			p, err := Parse([]byte(tc.body), tc.call, recv)
			if err != nil || len(p.Errors) > 0 || len(p.Events) != 1 {
				t.Fatalf("Parse = %+v, %v", p, err)
			}
			e := p.Events[0]
			if got := event.TypeOf(e).String(); got != tc.typ || !tc.check(e) {
				t.Fatalf("%s: %v", got, e)
			}
			if e.Timestamp != "1796644800000" { // no timestamp: receivedAt
				t.Errorf("timestamp %s", e.Timestamp)
			}
		})
	}
}

// The clock-skew correction: timestamp + (receivedAt - sentAt).
func TestParseClockSkew(t *testing.T) {
	body := `{"batch":[{"type":"track","userId":"u","event":"e","timestamp":"2026-12-07T11:59:00.000Z"},
	{"type":"track","userId":"u","event":"e","timestamp":"2026-12-07T11:59:00Z","sentAt":"2026-12-07T12:01:00Z"}],
	"sentAt":"2026-12-07T12:10:00.000Z"}`
	p, err := Parse([]byte(body), "", recv)
	if err != nil || len(p.Events) != 2 {
		t.Fatalf("%+v %v", p, err)
	}
	// The device clock is 10 minutes ahead: 11:59 on it was 11:49.
	if want := time.Date(2026, 12, 7, 11, 49, 0, 0, time.UTC).UnixMilli(); p.Events[0].Timestamp != itoa(want) {
		t.Errorf("batch sentAt: %s, want %d", p.Events[0].Timestamp, want)
	}
	// A message's own sentAt wins: 1 minute ahead.
	if want := time.Date(2026, 12, 7, 11, 58, 0, 0, time.UTC).UnixMilli(); p.Events[1].Timestamp != itoa(want) {
		t.Errorf("message sentAt: %s, want %d", p.Events[1].Timestamp, want)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Each message's problem is named; the valid ones are still taken, and a
// batch's context is under each message's own.
func TestParseBatchErrors(t *testing.T) {
	big := `{"type":"track","userId":"u","event":"big","properties":{"x":"` + strings.Repeat("a", MaxMessageBytes) + `"}}`
	body := `{"writeKey":"wk","context":{"library":{"name":"lib"},"locale":"de"},"batch":[
	{"type":"track","userId":"u","messageId":"no-event"},
	{"type":"track","event":"anon"},
	{"type":"nope","userId":"u"},
	{"userId":"u"},
	` + big + `,
	{"type":"group","userId":"u"},
	{"type":"alias","previousId":"a"},
	{"type":"track","userId":"u","event":"e","properties":[1]},
	{"type":"track","userId":"u","event":"e","timestamp":"yesterday"},
	{"type":"track","userId":"u","event":"ok","context":{"locale":"fr"}}]}`
	p, err := Parse([]byte(body), "", recv)
	if err != nil {
		t.Fatal(err)
	}
	if p.WriteKey != "wk" || p.Total != 10 || len(p.Events) != 1 || p.Index[0] != 9 {
		t.Fatalf("%+v", p)
	}
	want := []string{`"event"`, "userId or an anonymousId", `"nope"`, `no "type"`, "32 KB", `"groupId"`, `"userId"`, "properties must be a JSON object", "ISO-8601"}
	if len(p.Errors) != len(want) {
		t.Fatalf("errors %+v", p.Errors)
	}
	for i, w := range want {
		if p.Errors[i].Index != i || !strings.Contains(p.Errors[i].Error, w) {
			t.Errorf("message %d: %+v, want it to name %s", i, p.Errors[i], w)
		}
	}
	if p.Errors[0].MessageID != "no-event" {
		t.Errorf("messageId not reported: %+v", p.Errors[0])
	}
	if got := string(event.AppendStruct(nil, p.Events[0].Context)); got != `{"library":{"name":"lib"},"locale":"fr"}` {
		t.Errorf("context %s", got)
	}
}

func TestParseWholeRequestErrors(t *testing.T) {
	for _, tc := range []struct{ call, body, want string }{
		{CallTrack, `not json`, "JSON object"},
		{CallTrack, `{"userId":`, "not valid JSON"},
		{"", `{"messages":[]}`, `"batch"`},
		{"", `{"batch":{}}`, "batch"},
		{CallTrack, `{"event":"e","userId":"u","x":"` + strings.Repeat("a", MaxMessageBytes) + `"}`, "32 KB"},
	} {
		if _, err := Parse([]byte(tc.body), tc.call, recv); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%.30q) = %v, want an error naming %s", tc.body, err, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"batch":[{"type":"track","userId":"u","event":"e","properties":{"a":[1,{"b":null}]}}],"sentAt":"2026-12-07T12:00:00Z"}`), "")
	f.Add([]byte(`{"userId":1.5e3,"traits":{"x":"\u00e9"},"timestamp":"2026-12-07T12:00:00+05:30"}`), CallIdentify)
	f.Add([]byte(`{"anonymousId":"a","context":{"library":{}},"integrations":{"All":false}}`), CallPage)
	f.Add([]byte(`{"userId":"u","previousId":"p"}`), CallAlias)
	f.Fuzz(func(t *testing.T, body []byte, call string) {
		p, err := Parse(body, call, recv)
		if err != nil {
			return
		}
		if len(p.Events)+len(p.Errors) != p.Total || len(p.Index) != len(p.Events) {
			t.Fatalf("messages lost: total %d, events %d, errors %d", p.Total, len(p.Events), len(p.Errors))
		}
		for _, e := range p.Events {
			if event.TypeOf(e) == event.TypeNone {
				t.Fatal("an event without a type")
			}
			event.AppendParams(nil, e)
			event.AppendStruct(nil, e.GetContext())
		}
	})
}
