package app_test

import (
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/event-grpc/event-grpc/internal/config"
	"github.com/event-grpc/event-grpc/internal/config/configtest"
)

// One trust model for every route. With ENV=production AUTH_MODE=apikey
// and no webhook secrets the service does not start (on 470972f it started
// and anonymous POST /branch/event was accepted while /v1/events was
// refused). With the secrets set, an anonymous webhook is 401, and
// webhooks are rate limited like the other ingest routes.
func TestWebhooksShareTheTrustModel(t *testing.T) {
	prod := map[string]string{"ENV": "production", "AUTH_MODE": "apikey", "AUTH_API_KEYS": "svc:k-0123456789abcdef",
		"PORT": "0", "GIN_PORT": "0", "DATA_DIR": t.TempDir()}
	_, err := config.Load(configtest.Env(prod), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "BRANCH_WEBHOOK_SECRET") {
		t.Fatalf("ENV=production without webhook secrets: %v; want a start-up error naming BRANCH_WEBHOOK_SECRET", err)
	}

	env := map[string]string{"RATE_LIMIT_RPS": "0.01", "RATE_LIMIT_BURST": "1"}
	for k, v := range prod {
		env[k] = v
	}
	for _, p := range []string{"BRANCH", "WEBENGAGE", "VIDOOLY", "SHOPIFY", "GRAPHY"} {
		env[p+"_WEBHOOK_SECRET"] = "sec-" + p
	}
	a := start(t, env)
	base := "http://" + a.HTTPAddr().String()
	body, err := os.ReadFile("../../testdata/webhooks/branch/open.json")
	if err != nil {
		t.Fatal(err)
	}
	post := func(path, token string) int {
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("X-Webhook-Token", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("/branch/event", ""); code != http.StatusUnauthorized {
		t.Fatalf("anonymous POST /branch/event: %d, want 401", code)
	}
	// The anonymous request spent this IP's one token: the rate limit
	// holds for webhooks too.
	if code := post("/branch/event", "sec-BRANCH"); code != http.StatusTooManyRequests {
		t.Fatalf("second webhook request within the rate limit: %d, want 429", code)
	}
}

// Queues nothing would consume are not declared: without WEBENGAGE_* the
// user-update queue (forwarded to WebEngage) does not exist, so a user
// update is refused at once instead of filling the store unconsumed. On
// 470972f it was answered 200 and kept forever in webengage_user_event_q.
func TestUnconsumedQueuesAreNotRouted(t *testing.T) {
	a := start(t, map[string]string{"WEBENGAGE_WEBHOOK_SECRET": "we-secret"})
	body, err := os.ReadFile("../../testdata/webhooks/webengage/user.json")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+a.HTTPAddr().String()+"/webengage/event", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Webhook-Token", "we-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "not configured") {
		t.Fatalf("a user update without WebEngage configured: %d %s; want 400 saying it is not configured", resp.StatusCode, b)
	}
}
