package webhook

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// withField returns sample name with doc[field] set to v (raw JSON).
func withField(t *testing.T, name, field, v string) []byte {
	t.Helper()
	return setField(t, sample(t, name), field, v)
}

// A number that is no time — 1e30, Inf, NaN, -1 — in a time field of any
// provider is refused with 400 naming the field, never stored as an
// overflowed time. On 470972f every one of them was accepted.
func TestTimestampsThatAreNoTimes(t *testing.T) {
	e := newEnv(t, envOpts{cfg: secretConfig()})
	tok := map[string]string{TokenHeader: tokenSecret}
	cases := []struct {
		path, file, field string
		query             func() map[string][]string
	}{
		{"/branch/event", "branch/open.json", "timestamp", nil},
		{"/graphy/event", "graphy/course_enrolled.json", "timestamp", nil},
		{"/vidooly/event", "vidooly/video_metrics.json", "timestamp", nil},
		{"/webengage/event", "webengage/event.json", "event_time", nil},
		{"/shopify/event", "shopify/orders_create.json", "created_at", nil},
	}
	for _, c := range cases {
		for _, v := range []string{`1e30`, `"Inf"`, `"-Infinity"`, `"NaN"`, `-1`, `1e400`} {
			t.Run(c.path+"="+v, func(t *testing.T) {
				e := e.with(t)
				body := withField(t, c.file, c.field, v)
				h := tok
				var q map[string][]string
				switch c.path {
				case "/shopify/event":
					h = shopifyHeaders(t, body, shopifySecret)
				case "/webengage/event":
					q = webengageQuery("")
					h = nil
				}
				a := e.post(c.path, q, body, h)
				want := c.field
				if c.path == "/webengage/event" {
					want = "eventTime"
				}
				if a.code != http.StatusBadRequest || !strings.Contains(a.body, want) || !strings.Contains(a.body, "not a time") {
					t.Fatalf("%s = %s: %d %s; want 400 naming %s", c.field, v, a.code, a.body, want)
				}
			})
		}
	}
	// And a real time still goes through.
	if a := e.post("/branch/event", nil, withField(t, "branch/open.json", "timestamp", `1718094633017`), tok); a.code != http.StatusOK {
		t.Fatalf("a good timestamp: %d %s", a.code, a.body)
	}
}

// Two different bodies under one provider delivery id both land: the id
// the broker and the de-duplication window know a delivery by includes a
// digest of its body. A true retry (same id, same body) is still answered
// as a duplicate. On 470972f the second Shopify body was answered
// "duplicate" and dropped.
func TestSameDeliveryIDDifferentContent(t *testing.T) {
	e := newEnv(t, envOpts{cfg: secretConfig()})
	a1 := withField(t, "shopify/orders_create.json", "total_price", `"10.00"`)
	a2 := withField(t, "shopify/orders_create.json", "total_price", `"99.00"`)
	for i, body := range [][]byte{a1, a2, a1} {
		a := e.post("/shopify/event", nil, body, shopifyHeaders(t, body, shopifySecret))
		var acc Accepted
		if err := json.Unmarshal([]byte(a.body), &acc); a.code != http.StatusOK || err != nil {
			t.Fatalf("shopify %d: %d %s", i, a.code, a.body)
		}
		if acc.Duplicate != (i == 2) {
			t.Fatalf("shopify %d: duplicate=%v", i, acc.Duplicate)
		}
	}
	if n := e.count("shopify_events_q"); n != 2 {
		t.Fatalf("shopify_events_q holds %d messages, want the 2 different bodies", n)
	}

	rid := map[string]string{"X-Request-Id": "req-1"}
	w1 := withField(t, "webengage/event.json", "category", `"system"`)
	w2 := withField(t, "webengage/event.json", "category", `"application"`)
	for i, body := range [][]byte{w1, w2} {
		if a := e.post("/webengage/event", webengageQuery("push"), body, rid); a.code != http.StatusOK {
			t.Fatalf("webengage %d: %d %s", i, a.code, a.body)
		}
	}
	if n := e.count("webengage_ch_event_q"); n != 2 {
		t.Fatalf("webengage_ch_event_q holds %d messages, want the 2 different bodies under one X-Request-Id", n)
	}
}

// No metric label takes its value from request content: Branch and Graphy
// event names (which become routing keys) fold into "other" in the consume
// metrics, while documented names keep their own label. On 470972f each
// name became a label value of eventgrpc_consume_events_total.
func TestLabelsAreBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, envOpts{cfg: secretConfig(), consume: true, reg: reg})
	tok := map[string]string{TokenHeader: tokenSecret}
	for i := range 5 {
		name := fmt.Sprintf("attacker_%d_%d", i, time.Now().UnixNano())
		b := withField(t, "branch/open.json", "name", strconv.Quote(name))
		b = setField(t, b, "id", strconv.Itoa(1000+i))
		if a := e.post("/branch/event", nil, b, tok); a.code != http.StatusOK {
			t.Fatalf("branch: %d %s", a.code, a.body)
		}
		g := withField(t, "graphy/course_enrolled.json", "event", strconv.Quote("x."+name))
		g = setField(t, g, "id", strconv.Quote(fmt.Sprint("g", i)))
		if a := e.post("/graphy/event", nil, g, tok); a.code != http.StatusOK {
			t.Fatalf("graphy: %d %s", a.code, a.body)
		}
	}
	if a := e.post("/graphy/event", nil, sample(t, "graphy/course_enrolled.json"), tok); a.code != http.StatusOK {
		t.Fatalf("graphy: %d %s", a.code, a.body)
	}
	e.row(`SELECT count(*) FROM graphy_event`, "6")
	e.row(`SELECT count(*) FROM branch_event`, "5")
	types := map[string]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		clear(types)
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if strings.Contains(l.GetValue(), "attacker") {
						t.Fatalf("metric %s has a label from request content: %s=%q", mf.GetName(), l.GetName(), l.GetValue())
					}
					if mf.GetName() == "eventgrpc_consume_events_total" && l.GetName() == "type" {
						types[l.GetValue()] = true
					}
				}
			}
		}
		if types["other"] && types["course.enrolled"] {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("type labels %v; want other and course.enrolled", types)
}

// setField returns the JSON object b with b[field] set to v (raw JSON).
func setField(t *testing.T, b []byte, field, v string) []byte {
	t.Helper()
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	doc[field] = json.RawMessage(v)
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Without WEBENGAGE_WEBHOOK_SECRET (ENV=local only) a user update, which
// the webengage_user_event_q consumer forwards to WebEngage's Users API
// with the service's key, is refused 401 and publishes nothing; events,
// which are only stored, are still taken. On 470972f it was forwarded.
func TestUnauthenticatedNeverForwarded(t *testing.T) {
	e := newEnv(t, envOpts{cfg: DefaultConfig()})
	if a := e.post("/webengage/event", nil, sample(t, "webengage/user.json"), nil); a.code != http.StatusUnauthorized || !strings.Contains(a.body, "WEBENGAGE_WEBHOOK_SECRET") {
		t.Fatalf("anonymous user update: %d %s; want 401 naming WEBENGAGE_WEBHOOK_SECRET", a.code, a.body)
	}
	if n := e.count("webengage_user_event_q"); n != 0 {
		t.Fatalf("webengage_user_event_q holds %d messages, want 0", n)
	}
	if a := e.post("/webengage/event", url.Values{"eventType": {"x"}}, sample(t, "webengage/event.json"), nil); a.code != http.StatusOK {
		t.Fatalf("anonymous event (stored only): %d %s", a.code, a.body)
	}
}

// The content types a browser sends cross-site without a CORS preflight
// (text/plain, form, multipart) are refused with 415 before anything is
// read, so no page on another site can post through a visitor's browser.
// On e066805 text/plain was accepted as JSON.
func TestCORSSafelistedTypesRefused(t *testing.T) {
	e := newEnv(t, envOpts{cfg: secretConfig()})
	body := sample(t, "branch/open.json")
	for _, ct := range []string{"text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"} {
		a := e.post("/branch/event", nil, body, map[string]string{TokenHeader: tokenSecret, "Content-Type": ct})
		if a.code != http.StatusUnsupportedMediaType {
			t.Fatalf("%s: %d %s, want 415", ct, a.code, a.body)
		}
	}
	if a := e.post("/branch/event", nil, body, map[string]string{TokenHeader: tokenSecret}); a.code != http.StatusOK {
		t.Fatalf("application/json: %d %s", a.code, a.body)
	}
}

// A user update, which the webengage_user_event_q consumer forwards to
// WebEngage's Users API with the service's key, is taken only with the
// shared token (rotatable), never on the static ?secret= signature (the
// same for as long as the secret key, and logged with URLs): 401, nothing
// published. Events on ?secret= are still taken. On e066805 the update was
// forwarded.
func TestWebEngageUserUpdateNeedsToken(t *testing.T) {
	e := newEnv(t, envOpts{cfg: secretConfig()})
	user := sample(t, "webengage/user.json")
	if a := e.post("/webengage/event", webengageQuery(""), user, nil); a.code != http.StatusUnauthorized || !strings.Contains(a.body, TokenHeader) {
		t.Fatalf("user update on ?secret=: %d %s; want 401 naming %s", a.code, a.body, TokenHeader)
	}
	if n := e.count("webengage_user_event_q"); n != 0 {
		t.Fatalf("webengage_user_event_q holds %d messages, want 0", n)
	}
	if a := e.post("/webengage/event", webengageQuery("x"), sample(t, "webengage/event.json"), nil); a.code != http.StatusOK {
		t.Fatalf("event on ?secret=: %d %s", a.code, a.body)
	}
	if a := e.post("/webengage/event", nil, user, map[string]string{TokenHeader: webengageSecret}); a.code != http.StatusOK {
		t.Fatalf("user update with the token: %d %s", a.code, a.body)
	}
	if n := e.count("webengage_user_event_q"); n != 1 {
		t.Fatalf("webengage_user_event_q holds %d messages, want 1", n)
	}
}
