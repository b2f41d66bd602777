package telemetry

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// stub answers like Sentry's envelope endpoint: 200 {"id":…}, or, while
// limited is set, 429 with Retry-After and X-Sentry-Rate-Limits.
type stub struct {
	srv     *httptest.Server
	mu      sync.Mutex
	events  []map[string]any
	posts   atomic.Int64
	limited atomic.Bool
}

func newStub(t *testing.T) *stub {
	s := &stub{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/1/envelope/" {
			http.NotFound(w, r)
			return
		}
		s.posts.Add(1)
		raw, _ := io.ReadAll(r.Body)
		if s.limited.Load() {
			w.Header().Set("Retry-After", "60")
			w.Header().Set("X-Sentry-Rate-Limits", "60::organization")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		sc := bufio.NewScanner(bytes.NewReader(raw))
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		sc.Scan() // envelope header
		for sc.Scan() {
			var item struct{ Type string }
			json.Unmarshal(sc.Bytes(), &item)
			if !sc.Scan() {
				break
			}
			if item.Type == "event" {
				var ev map[string]any
				if err := json.Unmarshal(sc.Bytes(), &ev); err == nil {
					s.mu.Lock()
					s.events = append(s.events, ev)
					s.mu.Unlock()
				}
			}
		}
		fmt.Fprint(w, `{"id":"0123456789abcdef0123456789abcdef"}`)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *stub) dsn() string { return "http://key@" + strings.TrimPrefix(s.srv.URL, "http://") + "/1" }

func (s *stub) got() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.events...)
}

// A panic in an HTTP handler is answered 500 and reported once, with the
// stack of the goroutine that panicked.
func TestHTTPPanicReportedWithStack(t *testing.T) {
	st := newStub(t)
	rep, err := NewSentry(SentryConfig{DSN: st.dsn(), Environment: "test"})
	if err != nil {
		t.Fatal(err)
	}
	h := HTTPRecover(rep, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panicky() }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/boom", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d", rec.Code)
	}
	rep.Flush(5 * time.Second)
	evs := st.got()
	if len(evs) != 1 {
		t.Fatalf("%d reports, want 1", len(evs))
	}
	b, _ := json.Marshal(evs[0]["exception"])
	if !strings.Contains(string(b), "panicky") || !strings.Contains(string(b), "kaboom") {
		t.Fatalf("exception lacks the panicking frame or value: %s", b)
	}
	if evs[0]["environment"] != "test" || evs[0]["release"] == nil {
		t.Fatalf("environment %v release %v", evs[0]["environment"], evs[0]["release"])
	}
}

func panicky() { panic("kaboom") }

// Over the per-key bound reports are dropped and counted; another key
// still gets through.
func TestDeadLetterReportsBounded(t *testing.T) {
	st := newStub(t)
	reg := prometheus.NewRegistry()
	rep, err := NewSentry(SentryConfig{DSN: st.dsn(), PerKey: 3, Total: 10, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		rep.DeadLetter("trace_log", "trace_log", fmt.Sprintf(`event "id-%d": required field missing`, i))
	}
	rep.DeadLetter("order_log_events_q", "order_log", "bad")
	rep.Flush(5 * time.Second)
	if n := len(st.got()); n != 4 {
		t.Fatalf("%d reports, want 3 for trace_log and 1 for order_log_events_q", n)
	}
	if d := testutil.ToFloat64(rep.drop.WithLabelValues("dead_letter")); d != 47 {
		t.Fatalf("dropped %v, want 47", d)
	}
}

// When Sentry answers 429 with a rate limit, the client backs off: later
// reports within the limit are not posted.
func TestBacksOffOn429(t *testing.T) {
	st := newStub(t)
	st.limited.Store(true)
	rep, err := NewSentry(SentryConfig{DSN: st.dsn(), PerKey: 100, Total: 100})
	if err != nil {
		t.Fatal(err)
	}
	rep.DeadLetter("q", "t", "first")
	rep.Flush(5 * time.Second)
	if st.posts.Load() != 1 {
		t.Fatalf("%d posts for the first report", st.posts.Load())
	}
	for i := range 20 {
		rep.DeadLetter("q", "t", fmt.Sprint("next ", i))
	}
	rep.Flush(2 * time.Second)
	if p := st.posts.Load(); p != 1 {
		t.Fatalf("%d posts while rate limited, want 1 (the one that was answered 429)", p)
	}
}

// Flush returns only after every report captured before it is delivered:
// Recover relies on it to get a panic's report out before the process
// exits. The client's default telemetry buffer lost a report that its own
// goroutine had taken but not yet queued when Flush ran; the rounds flush
// at staggered moments after the capture to meet that window.
func TestFlushDeliversEveryReport(t *testing.T) {
	st := newStub(t)
	rep, err := NewSentry(SentryConfig{DSN: st.dsn(), PerKey: 1000, Total: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for round := range 400 {
		before := len(st.got())
		rep.Panic(fmt.Sprintf("round %d", round), strings.Repeat("x", 4096))
		for end := time.Now().Add(time.Duration(round%40) * 5 * time.Microsecond); time.Now().Before(end); {
		}
		if !rep.Flush(5 * time.Second) {
			t.Fatalf("round %d: flush timed out", round)
		}
		if got := len(st.got()) - before; got != 1 {
			t.Fatalf("round %d: %d reports delivered when Flush returned, want 1", round, got)
		}
	}
}
