package segment_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	analytics "github.com/segmentio/analytics-go/v3"

	"github.com/event-grpc/event-grpc/internal/app/apptest"
)

const writeKey = "segment-write-key-0123456789"

// start runs the service zero-config (embedded JetStream and DuckDB) with
// write keys: the client "web" has writeKey.
func start(t *testing.T) string {
	t.Helper()
	a := apptest.Start(t, map[string]string{"AUTH_MODE": "apikey", "AUTH_API_KEYS": "web:" + writeKey, "DEDUPE_WINDOW": "0"})
	return apptest.URL(a)
}

// query runs SQL on the server's store through /v1/query (loopback).
func query(t *testing.T, base, sql string) [][]string {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/v1/query", strings.NewReader(sql))
	req.Header.Set("X-Requested-By", "test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Rows  [][]string `json:"rows"`
		Error string     `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("query %q: %d %v %s", sql, resp.StatusCode, err, out.Error)
	}
	return out.Rows
}

// await polls sql until it answers want (rows joined by ";", columns by "|").
func await(t *testing.T, base, sql, want string) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		var parts []string
		for _, r := range query(t, base, sql) {
			parts = append(parts, strings.Join(r, "|"))
		}
		if got = strings.Join(parts, ";"); got == want {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s\n got %q\nwant %q", sql, got, want)
}

type result struct {
	code int
	body map[string]any
}

func post(t *testing.T, base, path, body string, hdr map[string]string) result {
	t.Helper()
	return postBytes(t, base, path, []byte(body), hdr)
}

func postBytes(t *testing.T, base, path string, body []byte, hdr map[string]string) result {
	t.Helper()
	req, _ := http.NewRequest("POST", base+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(writeKey, "")
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: answer is not JSON: %s", path, raw)
	}
	return result{resp.StatusCode, m}
}

// TestAnswers: each kind of bad input gets its own clear answer, and the
// valid messages of a batch still land.
func TestAnswers(t *testing.T) {
	base := start(t)
	bigProps := `{"x":"` + strings.Repeat("a", 33<<10) + `"}`
	var bigBatch strings.Builder
	bigBatch.WriteString(`{"batch":[`)
	for i := range 20 {
		if i > 0 {
			bigBatch.WriteString(",")
		}
		fmt.Fprintf(&bigBatch, `{"type":"track","userId":"u","event":"e","properties":{"x":"%s"}}`, strings.Repeat("b", 30<<10))
	}
	bigBatch.WriteString(`]}`)
	for _, tc := range []struct {
		name, path, body string
		hdr              map[string]string
		code             int
		want             string
	}{
		{"no write key", "/v1/track", `{"userId":"u","event":"e"}`, map[string]string{"Authorization": ""}, 401, "write key is missing"},
		{"wrong write key", "/v1/track", `{"userId":"u","event":"e"}`, map[string]string{"Authorization": "Basic d3Jvbmcta2V5LXdyb25nLWtleTo="}, 401, "does not match"},
		{"wrong key in body", "/v1/t", `{"userId":"u","event":"e","writeKey":"nope"}`, map[string]string{"Authorization": ""}, 401, "does not match"},
		{"not JSON", "/v1/track", `hello`, nil, 400, "JSON"},
		{"track without event", "/v1/track", `{"userId":"u","properties":{}}`, nil, 400, `"event"`},
		{"message over 32 KB", "/v1/track", `{"userId":"u","event":"e","properties":` + bigProps + `}`, nil, 400, "32 KB"},
		{"batch over 500 KB", "/v1/batch", bigBatch.String(), nil, 413, "500 KB"},
		{"no user", "/v1/identify", `{"traits":{}}`, nil, 400, "userId or an anonymousId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := post(t, base, tc.path, tc.body, tc.hdr)
			if r.code != tc.code || !strings.Contains(fmt.Sprint(r.body["error"]), tc.want) || r.body["success"] != false {
				t.Fatalf("%d %v; want %d naming %s", r.code, r.body, tc.code, tc.want)
			}
		})
	}
	// A batch with bad messages: the good ones land, the bad are named.
	r := post(t, base, "/v1/batch", `{"batch":[
		{"type":"track","userId":"u-mixed","event":"Good One","messageId":"mixed-1","properties":{"n":1}},
		{"type":"track","userId":"u-mixed","messageId":"mixed-2"},
		{"type":"identify","userId":"u-mixed","messageId":"mixed-3","traits":{"plan":"pro"}},
		{"type":"track","userId":"u-mixed","event":"big","messageId":"mixed-4","properties":`+bigProps+`}]}`, nil)
	rej, _ := r.body["rejected"].([]any)
	if r.code != 200 || r.body["success"] != true || r.body["accepted"] != 2.0 || len(rej) != 2 {
		t.Fatalf("mixed batch: %d %v", r.code, r.body)
	}
	if m := rej[0].(map[string]any); m["index"] != 1.0 || m["messageId"] != "mixed-2" || !strings.Contains(m["error"].(string), `"event"`) {
		t.Errorf("rejected[0] = %v", m)
	}
	// gzip, and the write key in the body as analytics.js sends it.
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write([]byte(`{"writeKey":"` + writeKey + `","userId":"u-mixed","event":"Zipped","messageId":"mixed-5","properties":{"z":true}}`))
	zw.Close()
	if r := postBytes(t, base, "/v1/t", zb.Bytes(), map[string]string{"Authorization": "", "Content-Encoding": "gzip", "Content-Type": "text/plain"}); r.code != 200 || r.body["success"] != true {
		t.Fatalf("gzip: %d %v", r.code, r.body)
	}
	// A gzip bomb is bounded: 10 MB of zeros in a few KB.
	zb.Reset()
	zw = gzip.NewWriter(&zb)
	zw.Write([]byte(`{"batch":[{"type":"track","userId":"u","event":"e","properties":{"x":"`))
	zw.Write(bytes.Repeat([]byte("0"), 10<<20))
	zw.Close()
	if r := postBytes(t, base, "/v1/batch", zb.Bytes(), map[string]string{"Content-Encoding": "gzip"}); r.code != 413 || !strings.Contains(fmt.Sprint(r.body["error"]), "decompresses") {
		t.Fatalf("gzip bomb: %d %v", r.code, r.body)
	}
	await(t, base, "SELECT event_id, event, properties FROM tracks WHERE user_id = 'u-mixed' ORDER BY event_id",
		`mixed-1|Good One|{"n":1};mixed-5|Zipped|{"z":true}`)
	await(t, base, "SELECT event_id, traits FROM identifies WHERE user_id = 'u-mixed'", `mixed-3|{"plan":"pro"}`)
}

// props is what every SDK test sends: nested objects, numbers, booleans,
// arrays, unicode.
var props = map[string]any{
	"revenue": 49.5, "quantity": 3.0, "paid": true, "gift": false,
	"title":    "Zoë’s 日本語 order 🎉 \"quoted\"",
	"items":    []any{map[string]any{"sku": "a-1", "price": 19.99, "tags": []any{"x", "y"}}, map[string]any{"sku": "b-2", "price": 29.51, "tags": []any{}}},
	"shipping": map[string]any{"address": map[string]any{"city": "München", "zip": "80331"}, "express": true},
}

// sameJSON decodes the TSV-escaped JSON of a query answer and compares it.
func sameJSON(t *testing.T, what, got string, want any) {
	t.Helper()
	got = strings.NewReplacer(`\\`, `\`, `\t`, "\t", `\n`, "\n").Replace(got)
	var g any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("%s: %v: %s", what, err, got)
	}
	w, _ := json.Marshal(want)
	var wv any
	json.Unmarshal(w, &wv)
	if !reflect.DeepEqual(g, wv) {
		t.Errorf("%s = %s\nwant %s", what, got, w)
	}
}

type callback struct {
	mu       sync.Mutex
	ok, fail int
	errs     []error
}

func (c *callback) Success(analytics.Message) { c.mu.Lock(); c.ok++; c.mu.Unlock() }
func (c *callback) Failure(_ analytics.Message, err error) {
	c.mu.Lock()
	c.fail++
	c.errs = append(c.errs, err)
	c.mu.Unlock()
}

// TestAnalyticsGo drives the service with Segment's own Go SDK
// (github.com/segmentio/analytics-go/v3, unmodified but for its endpoint):
// every call lands once in its table with its properties intact, and the
// README's "every event of a user, before sign-up too" query finds them.
func TestAnalyticsGo(t *testing.T) {
	base := start(t)
	cb := &callback{}
	client, err := analytics.NewWithConfig(writeKey, analytics.Config{Endpoint: base, Interval: 50 * time.Millisecond, BatchSize: 3, Callback: cb})
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	msgs := []analytics.Message{
		// Before sign-up: anonymous.
		analytics.Page{MessageId: "go-page-1", AnonymousId: "anon-go", Name: "Pricing", Properties: analytics.Properties{"path": "/pricing", "category": "Docs"}, Timestamp: ts},
		analytics.Track{MessageId: "go-track-0", AnonymousId: "anon-go", Event: "Viewed Plan", Properties: props, Timestamp: ts.Add(time.Second)},
		// Sign-up.
		analytics.Identify{MessageId: "go-identify-1", UserId: "user-go", AnonymousId: "anon-go", Traits: analytics.Traits{"email": "zoe@example.com", "plan": "pro", "seats": 5.0, "beta": true}, Timestamp: ts.Add(2 * time.Second)},
		analytics.Alias{MessageId: "go-alias-1", PreviousId: "anon-go-old", UserId: "user-go", Timestamp: ts.Add(3 * time.Second)},
		analytics.Track{MessageId: "go-track-1", UserId: "user-go", Event: "Order Completed", Properties: props, Timestamp: ts.Add(4 * time.Second)},
		analytics.Screen{MessageId: "go-screen-1", UserId: "user-go", Name: "Cart", Properties: analytics.Properties{"items": 2.0}, Timestamp: ts.Add(5 * time.Second)},
		analytics.Group{MessageId: "go-group-1", UserId: "user-go", GroupId: "acme", Traits: analytics.Traits{"name": "Acme GmbH", "employees": 120.0}, Timestamp: ts.Add(6 * time.Second)},
		// An older anonymous id, known only from the alias.
		analytics.Track{MessageId: "go-track-old", AnonymousId: "anon-go-old", Event: "Opened App", Timestamp: ts.Add(-time.Minute)},
		// Someone else.
		analytics.Track{MessageId: "go-track-other", UserId: "user-other", Event: "Order Completed", Timestamp: ts},
	}
	for _, m := range msgs {
		if err := client.Enqueue(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	if cb.fail != 0 || cb.ok != len(msgs) {
		t.Fatalf("SDK callbacks: %d ok, %d failed: %v", cb.ok, cb.fail, cb.errs)
	}
	await(t, base, "SELECT count(*), count(DISTINCT event_id) FROM tracks WHERE event_id LIKE 'go-%'", "4|4")
	rows := query(t, base, "SELECT properties, user_id, event_timestamp FROM tracks WHERE event_id = 'go-track-1'")
	sameJSON(t, "tracks.properties", rows[0][0], props)
	// The timestamp is corrected by receivedAt - sentAt: here the same
	// clock, so only the time in transit.
	at, err := time.Parse("2006-01-02 15:04:05.999999", rows[0][2])
	if d := at.Sub(ts.Add(4 * time.Second)); err != nil || rows[0][1] != "user-go" || d < 0 || d > 5*time.Second {
		t.Errorf("track row %q: %v (timestamp want %s + transit)", rows[0][1:], err, ts.Add(4*time.Second))
	}
	await(t, base, "SELECT event_id, anonymous_id, name FROM pages", "go-page-1|anon-go|Pricing")
	await(t, base, "SELECT event_id, user_id, anonymous_id FROM identifies", "go-identify-1|user-go|anon-go")
	sameJSON(t, "identifies.traits", query(t, base, "SELECT traits FROM identifies")[0][0], map[string]any{"email": "zoe@example.com", "plan": "pro", "seats": 5, "beta": true})
	await(t, base, "SELECT event_id, user_id, previous_id FROM aliases", "go-alias-1|user-go|anon-go-old")
	await(t, base, "SELECT event_id, name FROM screens", "go-screen-1|Cart")
	await(t, base, "SELECT event_id, group_id FROM groups", "go-group-1|acme")
	sameJSON(t, "groups.traits", query(t, base, "SELECT traits FROM groups")[0][0], map[string]any{"name": "Acme GmbH", "employees": 120})
	// The SDK's context (library name and version) is kept.
	if c := query(t, base, "SELECT context FROM screens")[0][0]; !strings.Contains(c, `"analytics-go"`) {
		t.Errorf("context %s", c)
	}

	// The README's query: every event of user-go, before sign-up too.
	sql := readmeSQL(t)
	var got []string
	for _, r := range query(t, base, sql) {
		got = append(got, r[1]+":"+r[2])
	}
	want := []string{"track:Opened App", "page:Pricing", "track:Viewed Plan", "identify:", "track:Order Completed", "screen:Cart", "group:acme"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("README query found\n %q\nwant %q", got, want)
	}
}

// readmeSQL is the SQL block of the README after the user-events marker,
// with its user id replaced by user-go.
func readmeSQL(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- user-events-sql -->\\s*```sql\\n(.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatal("README.md has no ```sql block after <!-- user-events-sql -->")
	}
	return strings.ReplaceAll(string(m[1]), "'user-42'", "'user-go'")
}
