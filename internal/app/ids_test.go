package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/app"
)

const (
	keyA = "key-of-client-a-0123456789abcdef"
	keyB = "key-of-client-b-0123456789abcdef"
)

type idsResult struct {
	Status  string `json:"status"`
	Results []struct {
		EventID  string `json:"eventId"`
		Accepted bool   `json:"accepted"`
		Reason   string `json:"reason"`
	} `json:"results"`
}

// send posts body to /v1/events as client (with its key) and decodes the
// response; idem is the Idempotency-Key header ("" none).
func sendAs(t *testing.T, a *app.App, client, key, idem, body string) idsResult {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+a.HTTPAddr().String()+"/v1/events", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-client-id", client)
	req.Header.Set("Authorization", "Bearer "+key)
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 && resp.StatusCode != 422 { // 422: every event rejected
		t.Fatalf("%s: %s %s", client, resp.Status, b)
	}
	var r idsResult
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return r
}

// TestIdsScopedToSender is issue 18's reproduction end to end: client A
// sends {"id":"order-123","launchEvent":{}}, then client B its own
// AddToCartEvent with the same id. Both are accepted and both are stored
// (before, B got STATUS_OK and its event was dropped as a duplicate). A's
// exact retry is a duplicate (one row); A's other event under the same id
// is a conflict; id-less events under one Idempotency-Key get the same ids
// on a retry and make no second row. Against the embedded defaults
// (JetStream, DuckDB) and the production servers (RabbitMQ, ClickHouse,
// PostgreSQL), with the window shared through Redis.
func TestIdsScopedToSender(t *testing.T) {
	for _, c := range []struct {
		name  string
		env   func(t *testing.T) map[string]string
		final string // what makes duplicates invisible in a query
	}{
		{"duckdb", func(*testing.T) map[string]string { return map[string]string{} }, ""},
		{"clickhouse+postgres", productionEnv, " FINAL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := c.env(t)
			env["AUTH_MODE"] = "apikey"
			env["AUTH_API_KEYS"] = "a:" + keyA + ",b:" + keyB
			env["REDIS_CLUSTER_ADDRESSES"] = "127.0.0.1:6379"
			a := start(t, env)
			id := fmt.Sprintf("order-123-%d", time.Now().UnixNano())
			ref := id + "-ref"

			ra := sendAs(t, a, "a", keyA, "", `{"events":[{"id":"`+id+`","launchEvent":{}},{"id":"`+ref+`","launchReferEvent":{"referralCode":"A"}}]}`)
			rb := sendAs(t, a, "b", keyB, "", `{"events":[{"id":"`+id+`","addToCartEvent":{"productId":"p-1"}},{"id":"`+ref+`","launchReferEvent":{"referralCode":"B"}}]}`)
			for _, r := range []idsResult{ra, rb} {
				if r.Status != "STATUS_OK" || len(r.Results) != 2 || !r.Results[0].Accepted || r.Results[0].Reason != "" || r.Results[0].EventID != id {
					t.Fatalf("first sends: %+v", r)
				}
			}
			// Both are stored, each under its sender.
			q := func(where string) string { return "SELECT count(*) FROM event" + c.final + " WHERE " + where }
			waitRows(t, a, q("event_id = '"+id+"'"), "2")
			waitRows(t, a, q("event_id = '"+id+"' AND client_id = 'a' AND event_name = 'LaunchEvent'"), "1")
			waitRows(t, a, q("event_id = '"+id+"' AND client_id = 'b' AND event_name = 'AddToCartEvent'"), "1")
			// A's retry: a duplicate, accepted and said so.
			again := sendAs(t, a, "a", keyA, "", `{"events":[{"id":"`+id+`","launchEvent":{}}]}`)
			if r := again.Results[0]; !r.Accepted || r.Reason != "duplicate" {
				t.Fatalf("retry: %+v", again)
			}
			// A reuses its id for another event: a conflict, never a silent OK.
			other := sendAs(t, a, "a", keyA, "", `{"events":[{"id":"`+id+`","clickEvent":{"elementId":"x"}}]}`)
			if r := other.Results[0]; r.Accepted || !strings.HasPrefix(r.Reason, "conflict: ") || other.Status != "STATUS_REJECTED" {
				t.Fatalf("other event under a used id: %+v", other)
			}
			// Id-less events under one idempotency key: same ids on a retry.
			idem := "idem-" + id
			body := `{"header":{"userId":"` + idem + `"},"events":[{"launchEvent":{}},{"launchEvent":{}}]}`
			k1 := sendAs(t, a, "a", keyA, idem, body)
			k2 := sendAs(t, a, "a", keyA, idem, body)
			if len(k1.Results) != 2 || k1.Results[0].EventID == "" || k1.Results[0].EventID == k1.Results[1].EventID ||
				k1.Results[0].EventID != k2.Results[0].EventID || k1.Results[1].EventID != k2.Results[1].EventID {
				t.Fatalf("idempotency key: %+v then %+v", k1, k2)
			}
			if k2.Results[0].Reason != "duplicate" {
				t.Fatalf("retry under the idempotency key: %+v", k2)
			}

			waitRows(t, a, q("user_id = '"+idem+"'"), "2")
			waitRows(t, a, q("event_id = '"+id+"'"), "2") // the retry and the conflict added nothing
			if s := env["POSTGRES_EVENT_SCHEMA"]; s != "" {
				waitPG(t, fmt.Sprintf("SELECT string_agg(client_id || '=' || referral_code, ',' ORDER BY client_id) FROM %s.referral_event WHERE event_id = '%s'", s, ref), "a=A,b=B")
			}
		})
	}
}
