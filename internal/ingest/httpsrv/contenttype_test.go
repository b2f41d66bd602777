package httpsrv

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/health"
	"github.com/event-grpc/event-grpc/internal/pipeline"
)

// POST /v1/events refuses the CORS-safelisted content types (text/plain,
// form, multipart) with 415: a page on another site cannot make its
// visitors' browsers post events without a preflight. On e066805
// text/plain was read as JSON and the events were accepted.
func TestEventsRefuseCORSSafelistedTypes(t *testing.T) {
	p := must(pipeline.New(pipeline.Config{Workers: 1, Queue: 2, MaxEvents: 10, MaxPast: time.Hour, MaxEventBytes: 1 << 16, Exchange: "x"}, nopPublisher{}))
	defer p.Shutdown(context.Background())
	s := New(Config{MaxBodyBytes: 1 << 20}, p, health.New())
	body := `{"events":[{"id":"ct-1","launchEvent":{}}]}`
	for _, c := range []struct {
		ct   string
		code int
	}{
		{"text/plain", 415},
		{"text/plain;charset=UTF-8", 415},
		{"application/x-www-form-urlencoded", 415},
		{"multipart/form-data; boundary=b", 415},
		{"", 415},
		{"application/json", 200},
		{"application/json; charset=utf-8", 200},
	} {
		req := httptest.NewRequest(http.MethodPost, "/v1/events", strings.NewReader(body))
		if c.ct != "" {
			req.Header.Set("Content-Type", c.ct)
		}
		rec := httptest.NewRecorder()
		s.mux.ServeHTTP(rec, req)
		if rec.Code != c.code {
			t.Fatalf("%q: %d %s, want %d", c.ct, rec.Code, rec.Body, c.code)
		}
	}
}
