package topology

import (
	"strings"
	"testing"
)

// The seed system's queues and consumer counts; the default must keep them.
var seedQueues = map[string]int{
	"grpc_clickhouse_event_q": 2, "grpc_clickhouse_event_error_q": 2, "clickhouse_click_event_q": 2,
	"app_init_event_q": 2, "launch_refer_event_q": 2, "create_user_account_q": 2,
	"event.account_profile_complete": 2, "ab_assignments": 2, "branch_event_q": 2, "graphy_event_q": 2,
	"trace_log": 2, "affiliate_orders_event_q": 2, "bigboss_votes_log_q": 2, "post_log_events_q": 20,
	"sentiment_log_events_q": 2, "post_activity_log_events_q": 2, "profile_log_events_q": 2,
	"profile_relationship_log_events_q": 2, "scrape_request_log_events_q": 2, "order_log_events_q": 2,
	"shopify_events_q": 2, "webengage_event_q": 3, "webengage_ch_event_q": 5, "webengage_user_event_q": 5,
	"post_log_events_q_bkp": 5, "activity_tracker_q": 2,
}

var seedExchanges = []string{"grpc_event.tx", "grpc_event.dx", "grpc_event_error.dx", "branch_event.tx",
	"webengage_event.dx", "vidooly_event.dx", "graphy_event.tx", "identity.dx", "beat.dx", "coffee.dx",
	"shopify_event.dx", "affiliate.dx", "bigboss"}

func TestDefaultKeepsTheSeedLayout(t *testing.T) {
	top := Default()
	for _, name := range seedExchanges {
		if _, ok := top.Exchange(name); !ok {
			t.Errorf("exchange %s missing", name)
		}
	}
	for name, consumers := range seedQueues {
		q, ok := top.Queue(name)
		if !ok {
			t.Errorf("queue %s missing", name)
			continue
		}
		if q.Consumers != consumers {
			t.Errorf("queue %s: %d consumers, the seed had %d", name, q.Consumers, consumers)
		}
	}
	// Every event type reaches the event table; typed ones also their queue.
	for key, want := range map[string][]string{
		"LaunchEvent":      {"grpc_clickhouse_event_q"},
		"ClickEvent":       {"grpc_clickhouse_event_q", "clickhouse_click_event_q"},
		"LaunchReferEvent": {"grpc_clickhouse_event_q", "launch_refer_event_q"},
	} {
		if got := top.Routes("grpc_event.tx", key); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("Routes(grpc_event.tx, %s) = %v, want %v", key, got, want)
		}
	}
	if got := top.Routes("grpc_event_error.dx", "trace_log"); len(got) != 1 || got[0] != "trace_log.error" {
		t.Errorf("dead letters of trace_log route to %v", got)
	}
	if got := top.Routes("identity.dx", "nobody"); len(got) != 0 {
		t.Errorf("unbound key routes to %v", got)
	}
}

func TestMatch(t *testing.T) {
	cases := []struct {
		kind, binding, key string
		want               bool
	}{
		{KindTopic, "#", "a.b.c", true},
		{KindTopic, "#", "", true},
		{KindTopic, "a.*", "a.b", true},
		{KindTopic, "a.*", "a.b.c", false},
		{KindTopic, "a.#", "a", true},
		{KindTopic, "a.#", "a.b.c", true},
		{KindTopic, "*.b", "a.b", true},
		{KindTopic, "*.b", "b", false},
		{KindTopic, "CustomEvent.*", "CustomEvent.video_quality", true},
		{KindDirect, "x", "x", true},
		{KindDirect, "x", "y", false},
		{KindFanout, "", "anything", true},
	}
	for _, c := range cases {
		if got := Match(c.kind, c.binding, c.key); got != c.want {
			t.Errorf("Match(%s, %q, %q) = %v, want %v", c.kind, c.binding, c.key, got, c.want)
		}
	}
}

func TestParseNamesEveryProblem(t *testing.T) {
	_, err := Parse([]byte(`
error_exchange: dlx
exchanges:
  - {name: a, kind: topic}
  - {name: a, kind: weird}
queues:
  - name: q1
    bindings: [{exchange: missing, key: x}]
    handler: json
  - name: q2
    bindings: [{exchange: a, key: "a.#.b"}]
    handler: nope
`))
	if err == nil {
		t.Fatal("invalid topology accepted")
	}
	for _, want := range []string{"declared twice", "weird", "error_exchange", "missing", "needs at least one table", "'#' may only stand last", "nope"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if _, err := Parse([]byte("exchanges: []\nbogus: 1\n")); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("unknown key not reported: %v", err)
	}
}

func TestYAMLRoundTrip(t *testing.T) {
	b, err := Default().YAML()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(b)
	if err != nil {
		t.Fatalf("printed topology does not parse: %v", err)
	}
	if len(again.Queues) != len(Default().Queues) {
		t.Fatal("queues lost in the round trip")
	}
}

// An exchange marked typed in the YAML is read as such; the others are
// not, and the built-in topology marks none (every exchange packed).
func TestTypedExchangeFlag(t *testing.T) {
	top, err := Parse([]byte(`
exchanges:
  - {name: a.tx, kind: topic, typed: true}
  - {name: b.tx, kind: topic}
  - {name: grpc_event_error.dx, kind: direct}
queues:
  - {name: q, bindings: [{exchange: a.tx, key: "#"}], handler: json, tables: [t]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := top.Exchange("a.tx"); !a.Typed {
		t.Error("a.tx: typed: true not read")
	}
	if b, _ := top.Exchange("b.tx"); b.Typed {
		t.Error("b.tx: typed without the flag")
	}
	for _, e := range Default().Exchanges {
		if e.Typed {
			t.Errorf("the built-in topology marks %s typed", e.Name)
		}
	}
}
