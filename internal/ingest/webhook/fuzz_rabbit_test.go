package webhook

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// fuzzRoutes are the providers the fuzz target drives, with the queues a
// 200 lands in.
var fuzzRoutes = []struct {
	path   string
	queues []string
}{
	{"/branch/event", []string{"branch_event_q"}},
	{"/graphy/event", []string{"graphy_event_q"}},
	{"/vidooly/event", []string{"vidooly_event_q"}},
	{"/shopify/event", []string{"shopify_events_q"}},
	{"/webengage/event", []string{"webengage_ch_event_q", "webengage_user_event_q"}},
}

// documented are the statuses a webhook answers (see the package comment):
// 503 is not among them here, since the broker is up — a 503 would mean a
// request broke the broker connection.
var documented = map[int]bool{200: true, 400: true, 401: true, 413: true, 415: true, 429: true}

// FuzzWebhookToRabbitMQ drives every webhook handler, with fuzzed body and
// header values, through to a publish on the real RabbitMQ server (a vhost
// of its own). Whatever the input: the answer is a documented status; the
// service's RabbitMQ connection stays open (a publish on it works
// afterwards); and a 200 means the message is in its queue.
func FuzzWebhookToRabbitMQ(f *testing.F) {
	for i, r := range fuzzRoutes {
		name := strings.Split(strings.Trim(r.path, "/"), "/")[0]
		files := map[string][]string{
			"branch": {"branch/open.json"}, "graphy": {"graphy/course_enrolled.json"}, "vidooly": {"vidooly/video_metrics.json"},
			"shopify": {"shopify/orders_create.json"}, "webengage": {"webengage/event.json", "webengage/user.json"},
		}[name]
		for _, file := range files {
			f.Add(uint8(i), sample(f, file), "id-1", "orders/create")
		}
	}
	long4 := strings.Repeat("a", 64) + "." + strings.Repeat("b", 64) + "." + strings.Repeat("c", 64) + "." + strings.Repeat("d", 64)
	f.Add(uint8(1), []byte(`{"id":"g","event":"`+long4+`","timestamp":"2024-06-10T08:30:16Z"}`), "x", "y")
	f.Add(uint8(3), []byte(`{"id":1}`), strings.Repeat("w", 300), strings.Repeat("t", 300))
	f.Add(uint8(0), []byte(`{"name":"OPEN","timestamp":1e30,"id":1}`), "", "")

	r := newRabbitEnv(f)
	cfg := DefaultConfig()
	cfg.DedupeWindow = 0
	w := must(New(cfg, r.broker, nil, slog.New(slog.DiscardHandler), prometheus.NewRegistry()))
	f.Cleanup(func() { w.Shutdown(f.Context()) })
	routes := w.Routes()

	f.Fuzz(func(t *testing.T, which uint8, body []byte, id, extra string) {
		route := fuzzRoutes[int(which)%len(fuzzRoutes)]
		h := routes["POST "+route.path]
		before := 0
		for _, q := range route.queues {
			before += r.depth(t, q)
		}
		req := httptest.NewRequest(http.MethodPost, route.path+"?eventType=fuzz", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if validHeader(id) {
			req.Header.Set("X-Request-Id", id)
			req.Header.Set(HeaderShopifyWebhookID, id)
		}
		if validHeader(extra) {
			req.Header.Set("X-Shopify-Topic", extra)
		}
		rec := httptest.NewRecorder()
		http.MaxBytesHandler(h, 1<<20).ServeHTTP(rec, req)
		if !documented[rec.Code] {
			t.Fatalf("%s answered %d: %s", route.path, rec.Code, rec.Body)
		}
		r.alive(t)
		if rec.Code == http.StatusOK {
			after := 0
			for _, q := range route.queues {
				after += r.depth(t, q)
			}
			if after <= before {
				t.Fatalf("%s answered 200 (%s) but its queues hold %d messages, as before", route.path, rec.Body, after)
			}
		}
	})
}

// validHeader: a value net/http would send (the fuzzer's strings may hold
// bytes no client can put in a header).
func validHeader(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}
