package app_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWebhookSamplesFillTheirTables posts every testdata sample to its
// endpoint, in the zero-configuration setup and in BROKER=rabbitmq
// SINK=clickhouse, and checks each table got the sample's typed values.
func TestWebhookSamplesFillTheirTables(t *testing.T) {
	for _, setup := range []string{"zero-config", "rabbitmq+clickhouse"} {
		t.Run(setup, func(t *testing.T) {
			env := map[string]string{"SHOPIFY_WEBHOOK_SECRET": "shpss_example_secret"}
			final := ""
			if setup != "zero-config" {
				for k, v := range productionEnv(t) {
					env[k] = v
				}
				final = " FINAL"
			}
			a := start(t, env)
			base := "http://" + a.HTTPAddr().String()
			post := func(path, file string, headers map[string]string) int {
				t.Helper()
				body, err := os.ReadFile(filepath.Join("../../testdata/webhooks", file))
				if err != nil {
					t.Fatal(err)
				}
				req, _ := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				for k, v := range headers {
					req.Header.Set(k, v)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			for _, s := range []struct{ path, file string }{
				{"/branch/event", "branch/install.json"}, {"/branch/event", "branch/open.json"}, {"/branch/event", "branch/purchase.json"},
				{"/graphy/event", "graphy/course_enrolled.json"}, {"/graphy/event", "graphy/learner_signup.json"}, {"/graphy/event", "graphy/payment_success.json"},
				{"/vidooly/event", "vidooly/video_metrics.json"}, {"/vidooly/event", "vidooly/channel_metrics.json"},
				{"/webengage/event", "webengage/event.json"},
			} {
				if code := post(s.path, s.file, nil); code != 200 {
					t.Fatalf("POST %s %s: %d", s.path, s.file, code)
				}
			}
			var shopHeaders map[string]string
			raw, _ := os.ReadFile("../../testdata/webhooks/shopify/orders_create.headers.json")
			if err := json.Unmarshal(raw, &shopHeaders); err != nil {
				t.Fatal(err)
			}
			if code := post("/shopify/event", "shopify/orders_create.json", shopHeaders); code != 200 {
				t.Fatalf("signed Shopify order: %d", code)
			}
			bad := map[string]string{}
			for k, v := range shopHeaders {
				bad[k] = v
			}
			bad["X-Shopify-Hmac-Sha256"] = strings.Replace(shopHeaders["X-Shopify-Hmac-Sha256"], "m", "n", 1)
			bad["X-Shopify-Webhook-Id"] = "forged-1"
			if code := post("/shopify/event", "shopify/orders_create.json", bad); code != 401 {
				t.Fatalf("wrongly signed Shopify order: %d, want 401", code)
			}
			delete(bad, "X-Shopify-Hmac-Sha256")
			bad["X-Shopify-Webhook-Id"] = "forged-2"
			if code := post("/shopify/event", "shopify/orders_create.json", bad); code != 401 {
				t.Fatalf("unsigned Shopify order: %d, want 401", code)
			}

			waitRows(t, a, "SELECT count(*) FROM branch_event"+final, "3")
			waitRows(t, a, "SELECT count(*) FROM graphy_event"+final, "3")
			waitRows(t, a, "SELECT count(*) FROM vidooly_event"+final, "2")
			waitRows(t, a, "SELECT count(*) FROM webengage_event"+final, "1")
			waitRows(t, a, "SELECT count(*) FROM shopify_event"+final, "1")
			waitRows(t, a, "SELECT shop_domain FROM shopify_event"+final, "example-shop.myshopify.com")
			waitRows(t, a, "SELECT topic FROM shopify_event"+final, "orders/create")
		})
	}
}
