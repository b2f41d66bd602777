package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/event-grpc/event-grpc/client"
	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/app"
	"github.com/event-grpc/event-grpc/internal/app/apptest"
)

// props is a payload with every JSON shape: nested objects, arrays of
// objects, integers and fractions, booleans, null, unicode.
func props(i int) client.Properties {
	return client.Properties{
		"revenue":  49.5,
		"quantity": 3,
		"big":      int64(9007199254740991),
		"negative": -0.125,
		"paid":     true,
		"gift":     false,
		"coupon":   nil,
		"title":    "Grüße, 世界 🎉 \"quoted\" \\ back\ttab",
		"items": []any{
			map[string]any{"sku": "sku-1", "price": 10.25, "tags": []any{"a", "b"}},
			map[string]any{"sku": "sku-2", "price": 0, "tags": []any{}},
		},
		"address": map[string]any{"city": "Zürich", "geo": map[string]any{"lat": 47.37, "lon": 8.54}},
		"sizes":   []string{"S", "M"}, // a typed slice: encoded through encoding/json
		"n":       i,
	}
}

// tsv undoes the query endpoint's escapes (clickhouse-client's TSV
// output: backslash, tab, newline).
var tsv = strings.NewReplacer(`\\`, `\`, `\t`, "\t", `\n`, "\n")

// sameJSON compares stored JSON text, as the query endpoint returns it,
// with what was sent, by value.
func sameJSON(t *testing.T, what, stored string, sent any) {
	t.Helper()
	stored = tsv.Replace(stored)
	var got, want any
	if err := json.Unmarshal([]byte(stored), &got); err != nil {
		t.Fatalf("%s: stored %q is not JSON: %v", what, stored, err)
	}
	b, err := json.Marshal(sent)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\nstored %s\nsent   %s", what, stored, b)
	}
}

func row(t *testing.T, a *app.App, sql string) []string {
	t.Helper()
	apptest.WaitRows(t, a, 30*time.Second, "SELECT count(*) FROM ("+sql+")", "1")
	return apptest.Query(t, a, sql)[0]
}

func flushClose(t *testing.T, c *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestGenericCallsLand: each of the six generic calls lands once in its
// table with its properties or traits, context and integrations intact.
func TestGenericCallsLand(t *testing.T) {
	a := apptest.Start(t, nil)
	var rejected []client.Rejection
	c, err := client.New(client.Config{URL: apptest.URL(a), Header: &eventgrpcv1.Header{ClientId: "gen", SessionId: "s-1"},
		OnRejected: func(rs []client.Rejection) { rejected = append(rejected, rs...) }})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, call := range []string{"track", "identify", "page", "screen", "group", "alias"} {
		ids[call] = uuid.NewString()
	}
	evctx := client.Properties{"library": map[string]any{"name": "event-grpc-go", "version": "1"}, "locale": "de-CH", "ip": nil}
	integrations := client.Properties{"All": false, "Mixpanel": true}
	at := time.UnixMilli(time.Now().Add(-time.Hour).UnixMilli())
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.TrackEvent("Order Completed", props(1), client.WithMessageID(ids["track"]), client.WithEventContext(evctx),
		client.WithIntegrations(integrations), client.WithTimestamp(at), client.WithUserID("u-track")))
	traits := client.Properties{"email": "ada@example.com", "name": "Ada Łovelace", "plan": map[string]any{"tier": "pro", "seats": 5}, "vip": true}
	must(c.Identify("u-ada", traits, client.WithMessageID(ids["identify"])))
	must(c.Page("Pricing", props(2), client.WithMessageID(ids["page"]), client.WithCategory("docs")))
	must(c.Screen("Settings", props(3), client.WithMessageID(ids["screen"]), client.WithCategory("account")))
	groupTraits := client.Properties{"name": "Acme, Inc.", "employees": 120, "industry": "🚀 rockets"}
	must(c.Group("acme", groupTraits, client.WithMessageID(ids["group"])))
	must(c.Alias("u-ada-new", "", client.WithMessageID(ids["alias"])))
	quoted := `say "hi" \ there` + "\n\ttab"
	must(c.TrackEvent("Quoted", client.Properties{"q": quoted}))
	flushClose(t, c)
	if s := c.Stats(); s.Delivered != 7 || s.Rejected != 0 {
		t.Fatalf("stats %+v, rejected %+v", s, rejected)
	}
	anon := c.AnonymousID()

	r := row(t, a, "SELECT event, properties, context, integrations, user_id, anonymous_id, epoch_ms(event_timestamp), session_id, client_id FROM tracks WHERE event_id = '"+ids["track"]+"'")
	if r[0] != "Order Completed" || r[4] != "u-track" || r[5] != anon || r[6] != strconv.FormatInt(at.UnixMilli(), 10) || r[7] != "s-1" || r[8] != "gen" {
		t.Errorf("tracks row %q (anonymous id %s)", r, anon)
	}
	sameJSON(t, "tracks.properties", r[1], props(1))
	sameJSON(t, "tracks.context", r[2], evctx)
	sameJSON(t, "tracks.integrations", r[3], integrations)

	// Quotes, backslashes and control characters, compared inside the
	// store too.
	r = row(t, a, "SELECT json_valid(properties), properties->>'q' = '"+strings.ReplaceAll(quoted, "'", "''")+"' FROM tracks WHERE event = 'Quoted'")
	if r[0] != "1" || r[1] != "1" {
		t.Errorf("quoted property: valid JSON %s, equal %s", r[0], r[1])
	}

	r = row(t, a, "SELECT traits, user_id, anonymous_id FROM identifies WHERE event_id = '"+ids["identify"]+"'")
	sameJSON(t, "identifies.traits", r[0], traits)
	if r[1] != "u-ada" || r[2] != anon {
		t.Errorf("identifies row %q", r)
	}
	for _, tc := range []struct{ table, name, category string }{{"pages", "Pricing", "docs"}, {"screens", "Settings", "account"}} {
		n := 2
		if tc.table == "screens" {
			n = 3
		}
		r = row(t, a, "SELECT name, category, properties, user_id FROM "+tc.table+" WHERE event_id = '"+ids[strings.TrimSuffix(tc.table, "s")]+"'")
		if r[0] != tc.name || r[1] != tc.category || r[3] != "u-ada" {
			t.Errorf("%s row %q", tc.table, r)
		}
		sameJSON(t, tc.table+".properties", r[2], props(n))
	}
	r = row(t, a, "SELECT group_id, traits, user_id FROM groups WHERE event_id = '"+ids["group"]+"'")
	if r[0] != "acme" || r[2] != "u-ada" {
		t.Errorf("groups row %q", r)
	}
	sameJSON(t, "groups.traits", r[1], groupTraits)
	r = row(t, a, "SELECT previous_id, user_id FROM aliases WHERE event_id = '"+ids["alias"]+"'")
	if r[0] != "u-ada" || r[1] != "u-ada-new" {
		t.Errorf("aliases row %q: want the identified user as previous_id", r)
	}
}

// TestGenericBadInput: bad input is refused at the call with an error that
// names the problem, and nothing is queued.
func TestGenericBadInput(t *testing.T) {
	c, err := client.New(client.Config{URL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	for _, tc := range []struct {
		err  error
		want string
	}{
		{c.TrackEvent("", nil), "name is required"},
		{c.TrackEvent("x", client.Properties{"f": func() {}}), "properties cannot be encoded as JSON"},
		{c.Identify("", nil), "userID is required"},
		{c.Group("", nil), "groupID is required"},
		{c.Alias("", "p"), "userID is required"},
		{c.Page("p", nil, client.WithEventContext(client.Properties{"c": make(chan int)})), "context cannot be encoded"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("error %v, want one saying %q", tc.err, tc.want)
		}
	}
	if s := c.Stats(); s.Tracked != 0 {
		t.Fatalf("bad input was queued: %+v", s)
	}
}

// TestIdentity: the anonymous id goes with every call; Identify is
// remembered for later calls; per-call ids override; Reset forgets the
// user and starts a new anonymous id; with StateDir the identity outlives
// the client.
func TestIdentity(t *testing.T) {
	a := apptest.Start(t, nil)
	dir := t.TempDir()
	c, err := client.New(client.Config{URL: apptest.URL(a), StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	anon := c.AnonymousID()
	if _, err := uuid.Parse(anon); err != nil {
		t.Fatalf("anonymous id %q: %v", anon, err)
	}
	c.TrackEvent("id-1 before login", nil)
	c.Identify("u-1", client.Properties{"plan": "free"})
	c.TrackEvent("id-2 after login", nil)
	c.TrackEvent("id-3 overridden", nil, client.WithUserID("u-other"), client.WithAnonymousID("anon-other"))
	flushClose(t, c)

	// A new client on the same directory: same identity.
	c, err = client.New(client.Config{URL: apptest.URL(a), StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if c.UserID() != "u-1" || c.AnonymousID() != anon {
		t.Fatalf("after restart: user %q anonymous %q, want u-1 %q", c.UserID(), c.AnonymousID(), anon)
	}
	c.TrackEvent("id-4 after restart", nil)
	c.Reset()
	anon2 := c.AnonymousID()
	if anon2 == anon || c.UserID() != "" {
		t.Fatalf("after Reset: user %q anonymous %q (was %q)", c.UserID(), anon2, anon)
	}
	c.TrackEvent("id-5 after reset", nil)
	flushClose(t, c)

	apptest.WaitRows(t, a, 30*time.Second, "SELECT count(*) FROM tracks WHERE event LIKE 'id-%'", "5")
	got := apptest.Query(t, a, "SELECT event, user_id, anonymous_id FROM tracks WHERE event LIKE 'id-%' ORDER BY event")
	want := [][]string{
		{"id-1 before login", "", anon},
		{"id-2 after login", "u-1", anon},
		{"id-3 overridden", "u-other", "anon-other"},
		{"id-4 after restart", "u-1", anon},
		{"id-5 after reset", "", anon2},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rows\n%q\nwant\n%q", got, want)
	}
	if r := row(t, a, "SELECT user_id, anonymous_id FROM identifies"); r[0] != "u-1" || r[1] != anon {
		t.Fatalf("identifies row %q", r)
	}
}

// capture records how each request's body was sent.
type capture struct {
	next http.RoundTripper
	mu   sync.Mutex
	reqs []sent
}

type sent struct {
	encoding string // Content-Encoding (Connect) or Grpc-Encoding (gRPC)
	head     []byte // the body's first bytes as sent
}

func (c *capture) RoundTrip(r *http.Request) (*http.Response, error) {
	enc := r.Header.Get("Content-Encoding")
	if g := r.Header.Get("Grpc-Encoding"); g != "" {
		enc = g
	}
	c.mu.Lock()
	i := len(c.reqs)
	c.reqs = append(c.reqs, sent{encoding: enc})
	c.mu.Unlock()
	if r.Body != nil {
		r = r.Clone(r.Context())
		r.Body = &peek{ReadCloser: r.Body, save: func(b []byte) {
			c.mu.Lock()
			if len(c.reqs[i].head) < 8 {
				c.reqs[i].head = append(c.reqs[i].head, b[:min(len(b), 8-len(c.reqs[i].head))]...)
			}
			c.mu.Unlock()
		}}
	}
	return c.next.RoundTrip(r)
}

func (c *capture) all() []sent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]sent(nil), c.reqs...)
}

type peek struct {
	io.ReadCloser
	save func([]byte)
}

func (p *peek) Read(b []byte) (int, error) {
	n, err := p.ReadCloser.Read(b)
	if n > 0 {
		p.save(b[:n])
	}
	return n, err
}

// TestGzip: over Connect, request bodies over CompressMinBytes go
// gzip-compressed (Content-Encoding) and the service stores them; over
// gRPC the same with Compression gzip (grpc-encoding; not the default
// there, since older servers' gRPC port does not decode it); smaller ones,
// Compression none and gRPC by default go as they are.
func TestGzip(t *testing.T) {
	a := apptest.Start(t, nil)
	h2c := http.DefaultTransport.(*http.Transport).Clone()
	h2c.Protocols = new(http.Protocols)
	h2c.Protocols.SetUnencryptedHTTP2(true)
	for _, tc := range []struct {
		name, protocol, url, compression string
		next                             http.RoundTripper

		want bool // the large request compressed
	}{
		{"connect", client.ProtocolConnect, apptest.URL(a), "", http.DefaultTransport, true},
		{"grpc", client.ProtocolGRPC, "http://" + a.GRPCAddr().String(), "", h2c, false},
		{"grpc-gzip", client.ProtocolGRPC, "http://" + a.GRPCAddr().String(), client.CompressionGzip, h2c, true},
		{"connect-none", client.ProtocolConnect, apptest.URL(a), client.CompressionNone, http.DefaultTransport, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cap := &capture{next: tc.next}
			c, err := client.New(client.Config{URL: tc.url, Protocol: tc.protocol, Compression: tc.compression,
				HTTPClient: &http.Client{Transport: cap}, FlushInterval: time.Hour,
				OnRejected: func(rs []client.Rejection) { t.Errorf("rejected: %+v", rs[0]) }})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 50 { // ~20 KiB: one request, compressed
				c.TrackEvent("gzip-"+tc.name, props(i))
			}
			flush(t, c)
			c.TrackEvent("gzip-"+tc.name+"-small", nil) // under 1 KiB: as it is
			flushClose(t, c)
			if s := c.Stats(); s.Delivered != 51 {
				t.Fatalf("stats %+v", s)
			}
			reqs := cap.all()
			if len(reqs) != 2 {
				t.Fatalf("%d requests, want 2", len(reqs))
			}
			big, small := reqs[0], reqs[1]
			gz := func(s sent) bool {
				if tc.protocol == client.ProtocolGRPC {
					return s.encoding == "gzip" && len(s.head) > 0 && s.head[0] == 1 // compressed-flag of the frame
				}
				return s.encoding == "gzip" && bytes.HasPrefix(s.head, []byte{0x1f, 0x8b})
			}
			if gz(big) != tc.want {
				t.Errorf("large request: encoding %q, head % x; want compressed %v", big.encoding, big.head, tc.want)
			}
			if gz(small) {
				t.Errorf("small request compressed: encoding %q, head % x", small.encoding, small.head)
			}
			apptest.WaitRows(t, a, 30*time.Second, "SELECT count(*) || '/' || count(DISTINCT event_id) FROM tracks WHERE event LIKE 'gzip-"+tc.name+"%'", "51/51")
		})
	}
}

func flush(t *testing.T, c *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// segments lists the non-empty journal files in dir.
func segments(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		if fi, err := os.Stat(n); err == nil && fi.Size() > 0 {
			out = append(out, filepath.Base(n))
		}
	}
	return out
}

// logs collects a client's log records.
type logs struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logs) Enabled(context.Context, slog.Level) bool { return true }
func (l *logs) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.msgs = append(l.msgs, r.Level.String()+" "+r.Message)
	l.mu.Unlock()
	return nil
}
func (l *logs) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logs) WithGroup(string) slog.Handler      { return l }

func (l *logs) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.msgs {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// TestOptOut: while opted out nothing is tracked, queued or sent; what was
// queued is dropped unsent, also from StateDir; the choice outlives the
// client; opting in tracks again.
func TestOptOut(t *testing.T) {
	a := apptest.Start(t, nil)
	dir := t.TempDir()
	cap := &capture{next: http.DefaultTransport}
	var dropped int
	log := &logs{}
	cfg := client.Config{URL: apptest.URL(a), StateDir: dir, HTTPClient: &http.Client{Transport: cap}, FlushInterval: time.Hour,
		Logger: slog.New(log), OnDropped: func(n int, _ error) { dropped += n }}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		c.TrackEvent("queued then opted out", props(0))
	}
	if len(segments(t, dir)) == 0 {
		t.Fatal("queued events are not in StateDir")
	}
	c.SetOptOut(true)
	for _, err := range []error{
		c.TrackEvent("opted-out", props(0)),
		c.Identify("u-out", nil),
		c.Page("opted-out", nil),
		c.Track(testEvent()),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	flush(t, c)
	if s := c.Stats(); s.Tracked != 5 || s.Dropped != 5 || s.OptedOut != 4 || s.Delivered != 0 || dropped != 5 {
		t.Fatalf("stats %+v, reported dropped %d", s, dropped)
	}
	if c.UserID() != "" {
		t.Fatalf("Identify while opted out remembered %q", c.UserID())
	}
	if segs := segments(t, dir); len(segs) != 0 {
		t.Fatalf("StateDir still holds events: %v", segs)
	}
	closeWithin(t, c, 5*time.Second)

	c, err = client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !c.OptedOut() {
		t.Fatal("the opt-out was not kept in StateDir")
	}
	c.TrackEvent("opted-out", nil)
	flush(t, c)
	if n := len(cap.all()); n != 0 {
		t.Fatalf("%d requests sent while opted out", n)
	}
	c.SetOptOut(false)
	c.TrackEvent("opted in", props(0))
	flushClose(t, c)
	if n := len(cap.all()); n != 1 {
		t.Fatalf("%d requests after opting in, want 1", n)
	}
	apptest.WaitRows(t, a, 30*time.Second, "SELECT string_agg(event, ',') FROM tracks", "opted in")
	if !log.has("opted out") || !log.has("events dropped") {
		t.Fatalf("the log hook did not report the opt-out and the drop: %q", log.msgs)
	}
}

// TestOfflineBufferSurvivesRestart: events tracked while the service is
// unreachable are kept in StateDir by Close, reloaded by the next client
// on that directory, and stored once each when the service is up; the
// files are removed once they are delivered.
func TestOfflineBufferSurvivesRestart(t *testing.T) {
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	dir := t.TempDir()
	var dropped int
	cfg := client.Config{URL: url, StateDir: dir, MaxBatchEvents: 100, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		MaxQueueBytes: 1 << 20, // 64 KiB segments: the 1,000 events span several
		OnDropped:     func(n int, _ error) { dropped += n }}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if err := c.TrackEvent("offline", props(i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := c.Close(ctx); err == nil || !strings.Contains(err.Error(), "Saved = 1000") {
		t.Fatalf("Close to an unreachable service: %v", err)
	}
	if s := c.Stats(); s.Saved != 1000 || s.Dropped != 0 || s.Delivered != 0 || s.Retries == 0 || dropped != 0 {
		t.Fatalf("stats %+v", s)
	}
	segs := segments(t, dir)
	if len(segs) < 2 {
		t.Fatalf("segments %v: want the 1,000 events in several", segs)
	}
	t.Logf("kept in %d segments", len(segs))

	a := apptest.Start(t, map[string]string{"GIN_PORT": strconv.Itoa(port)})
	c, err = client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.Loaded != 1000 || s.Queued != 1000 {
		t.Fatalf("after New: %+v", s)
	}
	flushClose(t, c)
	if s := c.Stats(); s.Delivered != 1000 || s.Dropped != 0 || s.Rejected != 0 {
		t.Fatalf("stats %+v", s)
	}
	apptest.WaitRows(t, a, 30*time.Second, "SELECT count(*) || '/' || count(DISTINCT event_id) || '/' || count(DISTINCT properties->>'n') FROM tracks WHERE event = 'offline'", "1000/1000/1000")
	if segs := segments(t, dir); len(segs) != 0 {
		t.Fatalf("delivered events left in StateDir: %v", segs)
	}
}

// TestStateDirIsExclusive: a second client on a directory in use is
// refused with an error saying so.
func TestStateDirIsExclusive(t *testing.T) {
	dir := t.TempDir()
	c, err := client.New(client.Config{URL: "http://127.0.0.1:1", StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.New(client.Config{URL: "http://127.0.0.1:1", StateDir: dir}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second client on %s: %v", dir, err)
	}
	closeWithin(t, c, 5*time.Second)
	c, err = client.New(client.Config{URL: "http://127.0.0.1:1", StateDir: dir})
	if err != nil {
		t.Fatalf("after Close: %v", err)
	}
	closeWithin(t, c, 5*time.Second)
}
