package webengage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/event-grpc/event-grpc/internal/backoff"
	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/topology"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// plan is one answer the stub gives.
type plan struct {
	code       int
	retryAfter string
	body       string
}

// record is one request the stub received, and what it answered.
type record struct {
	path, auth, contentType string
	body                    map[string]any
	code                    int
}

// stub is a local WebEngage API: it records every request and answers
// from a queue of planned answers per path (201 when the queue is empty),
// or by a rule on the body.
type stub struct {
	srv *httptest.Server

	mu          sync.Mutex
	plans       map[string][]plan
	rule        func(body map[string]any) *plan
	reqs        []record
	inFlight    int
	maxInFlight int
	delay       time.Duration
}

func newStub(t *testing.T) *stub {
	s := &stub{plans: map[string][]plan{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *stub) plan(path string, ps ...plan) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plans[path] = append(s.plans[path], ps...)
}

func (s *stub) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var body map[string]any
	json.Unmarshal(b, &body)
	s.mu.Lock()
	s.inFlight++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	delay := s.delay
	p := plan{code: http.StatusCreated, body: `{"response":{"status":"queued"}}`}
	if q := s.plans[r.URL.Path]; len(q) > 0 {
		p, s.plans[r.URL.Path] = q[0], q[1:]
	} else if s.rule != nil {
		if rp := s.rule(body); rp != nil {
			p = *rp
		}
	}
	s.reqs = append(s.reqs, record{path: r.URL.Path, auth: r.Header.Get("Authorization"), contentType: r.Header.Get("Content-Type"), body: body, code: p.code})
	s.mu.Unlock()
	time.Sleep(delay)
	s.mu.Lock()
	s.inFlight--
	s.mu.Unlock()
	if p.retryAfter != "" {
		w.Header().Set("Retry-After", p.retryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(p.code)
	io.WriteString(w, p.body)
}

func (s *stub) requests() []record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]record(nil), s.reqs...)
}

// accepted counts, per value of field, the requests answered 2xx.
func (s *stub) accepted(field string) map[string]int {
	out := map[string]int{}
	for _, r := range s.requests() {
		if r.code >= 200 && r.code < 300 {
			out[fmt.Sprint(r.body[field])]++
		}
	}
	return out
}

const (
	eventsPath      = "/v1/accounts/~15ba20b6a/events"
	usersPath       = "/v1/accounts/~15ba20b6a/users"
	brandEventsPath = "/v1/accounts/~brand77/events"
	brandUsersPath  = "/v1/accounts/~brand77/users"
)

func config(s *stub) Config {
	return Config{
		EventsURL:      s.srv.URL + eventsPath,
		UsersURL:       s.srv.URL + usersPath,
		APIKey:         "main-key-123",
		BrandEventsURL: s.srv.URL + brandEventsPath,
		BrandUsersURL:  s.srv.URL + brandUsersPath,
		BrandAPIKey:    "brand-key-456",
		Concurrency:    4,
		Timeout:        5 * time.Second,
		Retries:        2,
		Backoff:        backoff.Policy{Initial: time.Millisecond, Max: 5 * time.Millisecond},
	}
}

func newSink(t *testing.T, cfg Config, reg prometheus.Registerer) *Sink {
	t.Helper()
	s, err := New(cfg, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func queue(name string, opts map[string]string) topology.Queue {
	return topology.Queue{Name: name, Options: opts, MaxRetries: 2}
}

func handler(t *testing.T, s *Sink, q topology.Queue) *Handler {
	t.Helper()
	h, err := s.Handler(q)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func event(id string) broker.Delivery {
	body := fmt.Sprintf(`{"userId":"u_%s","eventName":"Added To Cart","eventTime":"2024-06-10T14:00:15+0530","eventData":{"ref":%q,"price":2199}}`, id, id)
	return broker.Delivery{ID: "msg-" + id, Queue: "webengage_event_q", Body: []byte(body)}
}

var eventsQ = queue("webengage_event_q", map[string]string{OptionAPI: "events"})

// Every event reaches the API exactly once, through 429s (with
// Retry-After, honoured) and 500s, whether the in-process retries absorb
// them or the batch is held and handed again.
func TestExactlyOnceThroughThrottlingAndErrors(t *testing.T) {
	st := newStub(t)
	cfg := config(st)
	cfg.Concurrency = 1 // one request at a time: the plan is met in order
	reg := prometheus.NewRegistry()
	s := newSink(t, cfg, reg)
	h := handler(t, s, eventsQ)
	st.plan(eventsPath,
		plan{code: 429, retryAfter: "1", body: `{"response":{"status":"error","message":"rate limited"}}`}, // e0: waits 1s
		plan{code: 500, body: "oops"},                     // e0 again
		plan{code: 201},                                   // e0 done after 2 retries
		plan{code: 201},                                   // e1
		plan{code: 503}, plan{code: 500}, plan{code: 502}, // e2: 3 attempts, all fail → the batch is held
	)
	var batch []broker.Delivery
	for i := range 5 {
		batch = append(batch, event(fmt.Sprint(i)))
	}
	start := time.Now()
	err := h.Handle(context.Background(), batch)
	var fm *broker.FailedMessages
	if err == nil || errors.As(err, &fm) || fault.IsPermanent(err) {
		t.Fatalf("first hand: err = %v, want a transient error that holds the batch", err)
	}
	if time.Since(start) < time.Second {
		t.Fatalf("Retry-After: 1 was not waited (took %v)", time.Since(start))
	}
	first := len(st.requests())
	if first != 9 { // e0 ×3, e1, e2 ×3, e3, e4
		t.Fatalf("first hand made %d requests, want 9", first)
	}
	// The broker hands the held batch again: only e2 is sent.
	if err := h.Handle(context.Background(), batch); err != nil {
		t.Fatalf("second hand: %v", err)
	}
	if got := len(st.requests()) - first; got != 1 {
		t.Fatalf("second hand made %d requests, want 1 (only the event that failed)", got)
	}
	// And a third time (a redelivery after a crash before the ack) sends
	// nothing.
	if err := h.Handle(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	acc := st.accepted("userId")
	for i := range 5 {
		if acc[fmt.Sprintf("u_%d", i)] != 1 {
			t.Fatalf("event %d accepted %d times: %v", i, acc[fmt.Sprintf("u_%d", i)], acc)
		}
	}
	if len(acc) != 5 {
		t.Fatalf("accepted %v", acc)
	}
	l := prometheus.Labels{"api": "events", "account": "main"}
	if got := testutil.ToFloat64(s.m.retryAfterWaits.With(l)); got != 1 {
		t.Errorf("Retry-After waits %v, want 1", got)
	}
	if got := testutil.ToFloat64(s.m.retries.With(l)); got != 4 {
		t.Errorf("retries %v, want 4 (e0 twice, e2 twice)", got)
	}
	for class, want := range map[string]float64{"2xx": 5, "429": 1, "5xx": 4} {
		if got := testutil.ToFloat64(s.m.requests.WithLabelValues("events", "main", class)); got != want {
			t.Errorf("requests %s: %v, want %v", class, got, want)
		}
	}
	if got := testutil.ToFloat64(s.m.deliveries.WithLabelValues("webengage_event_q", "skipped")); got != 9 {
		t.Errorf("skipped %v, want 9 (4 then 5)", got)
	}
}

// A 400 fails its delivery alone, with the status and an excerpt of the
// answer; the others are sent and acked.
func TestBadRequestFailsThatDelivery(t *testing.T) {
	st := newStub(t)
	long := `{"response":{"status":"error","message":"eventTime is invalid` + strings.Repeat(" and more", 100) + `"}}`
	st.rule = func(b map[string]any) *plan {
		if b["userId"] == "u_1" {
			return &plan{code: 400, body: long}
		}
		return nil
	}
	s := newSink(t, config(st), nil)
	h := handler(t, s, eventsQ)
	batch := []broker.Delivery{event("0"), event("1"), event("2")}
	err := h.Handle(context.Background(), batch)
	var fm *broker.FailedMessages
	if !errors.As(err, &fm) {
		t.Fatalf("err = %v, want *broker.FailedMessages", err)
	}
	if len(fm.Failed) != 1 || fm.Failed[1] == nil {
		t.Fatalf("failed %v, want #1 only", fm.Failed)
	}
	reason := fm.Failed[1].Error()
	if !fault.IsPermanent(fm.Failed[1]) || !strings.HasPrefix(reason, "webengage 400: ") || !strings.Contains(reason, "eventTime is invalid") {
		t.Fatalf("reason %q", reason)
	}
	if ex := strings.TrimPrefix(reason, "webengage 400: "); len(ex) > MaxExcerpt {
		t.Fatalf("excerpt of %d bytes", len(ex))
	}
	if got := len(st.requests()); got != 3 {
		t.Fatalf("%d requests, want 3 (a 400 is not retried)", got)
	}
}

// Bodies the API cannot take fail permanently without a request.
func TestMalformedIsPermanent(t *testing.T) {
	st := newStub(t)
	s := newSink(t, config(st), nil)
	ev := handler(t, s, eventsQ)
	us := handler(t, s, queue("webengage_user_event_q", map[string]string{OptionAPI: "users"}))
	cases := []struct {
		name string
		h    *Handler
		body string
		want string
	}{
		{"not JSON", ev, `{"eventName":`, "not a JSON object"},
		{"a string", ev, `"Added To Cart"`, "not a JSON object"},
		{"no event name", ev, `{"userId":"u1"}`, "eventName"},
		{"no user", ev, `{"eventName":"x"}`, "userId"},
		{"user without id", us, `{"firstName":"Asha"}`, "userId"},
		{"bad array", ev, `[{"eventName":"x","userId":"u"}, 3]`, "element 1"},
		{"null", us, `null`, "null"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.h.Handle(context.Background(), []broker.Delivery{{Queue: c.h.queue, Body: []byte(c.body)}})
			var fm *broker.FailedMessages
			if !errors.As(err, &fm) || fm.Failed[0] == nil || !fault.IsPermanent(fm.Failed[0]) || !strings.Contains(fm.Failed[0].Error(), c.want) {
				t.Fatalf("err = %v, want a permanent failure mentioning %q", err, c.want)
			}
		})
	}
	if n := len(st.requests()); n != 0 {
		t.Fatalf("%d requests for malformed bodies", n)
	}
}

// At most Concurrency requests are in flight per API key, across the
// queues that share the key; different keys do not wait for each other.
func TestConcurrencyBound(t *testing.T) {
	st := newStub(t)
	st.delay = 30 * time.Millisecond
	cfg := config(st)
	cfg.Concurrency = 3
	s := newSink(t, cfg, nil)
	ev := handler(t, s, eventsQ)
	us := handler(t, s, queue("webengage_user_event_q", map[string]string{OptionAPI: "users"}))
	var events, users []broker.Delivery
	for i := range 12 {
		events = append(events, event(fmt.Sprint(i)))
		users = append(users, broker.Delivery{ID: fmt.Sprint("user-", i), Queue: "webengage_user_event_q", Body: fmt.Appendf(nil, `{"userId":"u_%d","firstName":"A"}`, i)})
	}
	var wg sync.WaitGroup
	for _, c := range []struct {
		h *Handler
		b []broker.Delivery
	}{{ev, events[:6]}, {us, users}, {ev, events[6:]}} { // two consumers of the events queue, one of the users queue
		wg.Go(func() {
			if err := c.h.Handle(context.Background(), c.b); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if st.maxInFlight > 3 {
		t.Fatalf("%d requests in flight for one key, bound is 3", st.maxInFlight)
	}
	if st.maxInFlight < 2 {
		t.Fatalf("requests never overlapped (max in flight %d)", st.maxInFlight)
	}
	if n := len(st.requests()); n != 24 {
		t.Fatalf("%d requests, want 24", n)
	}
}

// The request carries the key, the JSON body as published, and goes to the
// account and API the queue's options choose.
func TestRoutingAndHeaders(t *testing.T) {
	st := newStub(t)
	s := newSink(t, config(st), nil)
	cases := []struct {
		name       string
		opts       map[string]string
		body       string
		path, auth string
	}{
		{"events", map[string]string{OptionAPI: "events"}, `{"userId":"u1","eventName":"Purchased","eventData":{"amount":2499.5}}`, eventsPath, "Bearer main-key-123"},
		{"users", map[string]string{OptionAPI: "users"}, `{"userId":"u1","firstName":"Asha","attributes":{"Plan":"gold"}}`, usersPath, "Bearer main-key-123"},
		{"brand events", map[string]string{OptionAPI: "events", OptionAccount: "brand"}, `{"anonymousId":"a1","eventName":"Viewed"}`, brandEventsPath, "Bearer brand-key-456"},
		{"brand users", map[string]string{OptionAPI: "users", OptionAccount: "brand"}, `{"userId":"u9","email":"x@example.com"}`, brandUsersPath, "Bearer brand-key-456"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := handler(t, s, queue("q_"+c.name, c.opts))
			n := len(st.requests())
			if err := h.Handle(context.Background(), []broker.Delivery{{Queue: "q_" + c.name, Body: []byte(c.body)}}); err != nil {
				t.Fatal(err)
			}
			reqs := st.requests()[n:]
			if len(reqs) != 1 {
				t.Fatalf("%d requests", len(reqs))
			}
			r := reqs[0]
			var want map[string]any
			json.Unmarshal([]byte(c.body), &want)
			if r.path != c.path || r.auth != c.auth || r.contentType != "application/json" || fmt.Sprint(r.body) != fmt.Sprint(want) {
				t.Fatalf("request %+v", r)
			}
		})
	}
}

// An array message is one API call per object; a partial failure re-sends
// only the objects that did not go through.
func TestArrayMessage(t *testing.T) {
	st := newStub(t)
	cfg := config(st)
	cfg.Concurrency = 1
	s := newSink(t, cfg, nil)
	h := handler(t, s, eventsQ)
	st.plan(eventsPath, plan{code: 201}, plan{code: 422, body: `{"message":"bad eventData"}`})
	d := broker.Delivery{ID: "arr-1", Queue: eventsQ.Name, Body: []byte(`[{"userId":"a","eventName":"E"},{"userId":"b","eventName":"E"}]`)}
	err := h.Handle(context.Background(), []broker.Delivery{d})
	var fm *broker.FailedMessages
	if !errors.As(err, &fm) || !strings.Contains(fm.Failed[0].Error(), "webengage 422") {
		t.Fatalf("err = %v", err)
	}
	// The broker retries the message (x-retry-count 1): only "b" is sent.
	d.RetryCount = 1
	if err := h.Handle(context.Background(), []broker.Delivery{d}); err != nil {
		t.Fatal(err)
	}
	if acc := st.accepted("userId"); acc["a"] != 1 || acc["b"] != 1 || len(st.requests()) != 3 {
		t.Fatalf("accepted %v after %d requests", acc, len(st.requests()))
	}
}

// A network failure is transient: the batch is held.
func TestNetworkErrorHoldsTheBatch(t *testing.T) {
	st := newStub(t)
	cfg := config(st)
	st.srv.Close()
	s := newSink(t, cfg, nil)
	h := handler(t, s, eventsQ)
	err := h.Handle(context.Background(), []broker.Delivery{event("0")})
	var fm *broker.FailedMessages
	if err == nil || errors.As(err, &fm) || fault.IsPermanent(err) {
		t.Fatalf("err = %v, want transient", err)
	}
	if got := testutil.ToFloat64(s.m.requests.WithLabelValues("events", "main", "error")); got != 3 {
		t.Fatalf("errors counted %v, want 3 (1 + 2 retries)", got)
	}
}

// A cancelled context stops the retries at once.
func TestCancelStopsRetries(t *testing.T) {
	st := newStub(t)
	st.plan(eventsPath, plan{code: 429, retryAfter: "30"})
	s := newSink(t, config(st), nil)
	h := handler(t, s, eventsQ)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := h.Handle(ctx, []broker.Delivery{event("0")})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("err = %v after %v", err, time.Since(start))
	}
}

func TestHandlerConfiguration(t *testing.T) {
	st := newStub(t)
	cfg := config(st)
	cfg.BrandUsersURL = ""
	cfg.BrandAPIKey = ""
	s := newSink(t, cfg, nil)
	cases := []struct {
		name    string
		opts    map[string]string
		wantErr string
		notConf bool
	}{
		{"no api", nil, `option api ""`, false},
		{"unknown api", map[string]string{OptionAPI: "profiles"}, "profiles", false},
		{"unknown account", map[string]string{OptionAPI: "events", OptionAccount: "partner"}, "partner", false},
		{"brand users without URL", map[string]string{OptionAPI: "users", OptionAccount: "brand"}, "WEBENGAGE_BRAND_USER_URL", true},
		{"brand events without key", map[string]string{OptionAPI: "events", OptionAccount: "brand"}, "WEBENGAGE_BRAND_API_KEY", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Handler(queue("q", c.opts))
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || errors.Is(err, ErrNotConfigured) != c.notConf {
				t.Fatalf("err = %v", err)
			}
		})
	}
	// The default topology's webengage queues are served by a full
	// configuration.
	full := newSink(t, config(st), prometheus.NewRegistry())
	for _, q := range topology.Default().Queues {
		if q.Handler == topology.HandlerWebEngage {
			if _, err := full.Handler(q); err != nil {
				t.Errorf("%s: %v", q.Name, err)
			}
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{
		"WEBENGAGE_URL":            "https://api.webengage.com/v1/accounts/~15ba20b6a/events",
		"WEBENGAGE_USER_URL":       "https://api.webengage.com/v1/accounts/~15ba20b6a/users",
		"WEBENGAGE_API_KEY":        "k1",
		"WEBENGAGE_BRAND_URL":      "https://api.in.webengage.com/v1/accounts/~brand77/events",
		"WEBENGAGE_BRAND_API_KEY":  "k2",
		"WEBENGAGE_CONCURRENCY":    "8",
		"WEBENGAGE_TIMEOUT":        "3s",
		"WEBENGAGE_RETRIES":        "0",
		"WEBENGAGE_BRAND_USER_URL": "",
	}
	c, err := ConfigFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if c.APIKey != "k1" || c.BrandAPIKey != "k2" || c.Concurrency != 8 || c.Timeout != 3*time.Second || c.Retries != -1 || c.BrandEventsURL == "" {
		t.Fatalf("config %+v", c)
	}
	_, err = ConfigFromEnv(func(k string) (string, bool) {
		v, ok := map[string]string{"WEBENGAGE_URL": "api.webengage.com/events", "WEBENGAGE_CONCURRENCY": "x", "WEBENGAGE_TIMEOUT": "soon"}[k]
		return v, ok
	})
	for _, v := range []string{"WEBENGAGE_URL", "WEBENGAGE_CONCURRENCY", "WEBENGAGE_TIMEOUT"} {
		if err == nil || !strings.Contains(err.Error(), v) {
			t.Errorf("error does not name %s: %v", v, err)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2024, 6, 10, 8, 30, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"1":                             time.Second,
		"0":                             0,
		"-3":                            0,
		"soon":                          0,
		"Mon, 10 Jun 2024 08:30:05 GMT": 5 * time.Second,
		"Mon, 10 Jun 2024 08:29:00 GMT": 0,
	}
	for in, want := range cases {
		if got := retryAfter(in, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestMemoIsBounded(t *testing.T) {
	m := newMemo(2, time.Minute)
	now := time.Unix(0, 0)
	m.now = func() time.Time { return now }
	m.put("a", nil)
	m.put("b", nil)
	m.put("c", errors.New("bad"))
	if _, ok := m.get("a"); ok || m.len() != 2 {
		t.Fatal("the oldest key was not evicted")
	}
	if err, ok := m.get("c"); !ok || err == nil {
		t.Fatal("a failure was not remembered")
	}
	now = now.Add(2 * time.Minute)
	if _, ok := m.get("b"); ok {
		t.Fatal("an expired key was remembered")
	}
}
