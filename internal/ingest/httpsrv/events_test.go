package httpsrv

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/health"
	"github.com/event-grpc/event-grpc/internal/pipeline"
)

// nopPublisher confirms every message.
type nopPublisher struct{}

func (nopPublisher) Publish(context.Context, string, []broker.Message) error { return nil }

// POST /v1/events answers 200 only when some event was accepted; a request
// whose every event was rejected for its own fault is 422, with the
// per-event results in the body.
func TestEventsStatusTellsTheTruth(t *testing.T) {
	p := must(pipeline.New(pipeline.Config{Workers: 1, Queue: 2, MaxEvents: 10, MaxPast: time.Hour, MaxEventBytes: 1 << 16, Exchange: "x"}, nopPublisher{}))
	defer p.Shutdown(context.Background())
	s := New(Config{MaxBodyBytes: 1 << 20}, p, health.New())
	ts := ms()
	for _, tc := range []struct {
		name, body string
		code       int
		has        string
	}{
		{"all accepted", `{"events":[{"launchEvent":{},"timestamp":"` + ts + `"}]}`, 200, `"STATUS_OK"`},
		{"partial", `{"events":[{"launchEvent":{},"timestamp":"` + ts + `"},{}]}`, 200, `"STATUS_PARTIAL"`},
		{"none accepted", `{"events":[{},{"customEvent":{"name":"` + strings.Repeat("n", 300) + `"}}]}`, 422, "CustomEvent.name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/v1/events", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			s.mux.ServeHTTP(w, req)
			if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.has) {
				t.Fatalf("%d %s, want %d with %s", w.Code, w.Body.String(), tc.code, tc.has)
			}
		})
	}
}

func ms() string { return strconv.FormatInt(time.Now().UnixMilli(), 10) }
