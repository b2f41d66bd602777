package webhook

import (
	"context"
	"log/slog"
	"strings"
	"testing"
)

func lookupOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestConfigFromEnv(t *testing.T) {
	c, err := ConfigFromEnv(lookupOf(map[string]string{
		"BRANCH_WEBHOOK_SECRET":              "b-tok",
		"SHOPIFY_WEBHOOK_SECRET":             " shpss_1 ",
		"BRANCH_EVENT_WORKER_POOL_SIZE":      "3",
		"BRANCH_EVENT_BUFFERED_CHANNEL_SIZE": "0",
		"GRAPHY_EVENT_BUFFERED_CHANNEL_SIZE": "",
		"WEBENGAGE_EVENT_WORKER_POOL_SIZE":   "7",
		"SHOPIFY_WEBHOOK_DEDUPE_SIZE":        "50",
	}), "local")
	if err != nil {
		t.Fatal(err)
	}
	if c.Branch != (Provider{Secret: "b-tok", Enabled: true, Workers: 3, Queue: 0}) {
		t.Errorf("branch %+v", c.Branch)
	}
	if c.Shopify.Secret != "shpss_1" || c.WebEngage.Workers != 7 || c.Graphy.Queue != DefaultQueue || c.Vidooly != (Provider{Enabled: true, Workers: DefaultWorkers, Queue: DefaultQueue}) {
		t.Errorf("config %+v", c)
	}
	if c.DedupeWindow != 50 {
		t.Errorf("dedupe window %d", c.DedupeWindow)
	}
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	_, err := ConfigFromEnv(lookupOf(map[string]string{
		"VIDOOLY_EVENT_WORKER_POOL_SIZE":      "many",
		"GRAPHY_EVENT_WORKER_POOL_SIZE":       "0",
		"SHOPIFY_EVENT_BUFFERED_CHANNEL_SIZE": "-1",
		"SHOPIFY_WEBHOOK_DEDUPE_SIZE":         "-5",
	}), "local")
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, v := range []string{"VIDOOLY_EVENT_WORKER_POOL_SIZE", "GRAPHY_EVENT_WORKER_POOL_SIZE", "SHOPIFY_EVENT_BUFFERED_CHANNEL_SIZE", "SHOPIFY_WEBHOOK_DEDUPE_SIZE"} {
		if !strings.Contains(err.Error(), v) {
			t.Errorf("error does not name %s:\n%v", v, err)
		}
	}
}

func TestWindowIsBounded(t *testing.T) {
	w := newWindow(2)
	w.add("a")
	w.add("b")
	if !w.seen("a") { // refreshes a
		t.Fatal("a forgotten")
	}
	w.add("c") // evicts b, the least recently seen
	if w.seen("b") || !w.seen("a") || !w.seen("c") || len(w.m) != 2 || w.ll.Len() != 2 {
		t.Fatalf("window holds %v", w.m)
	}
	var off *window = newWindow(0)
	off.add("x")
	if off.seen("x") {
		t.Fatal("a disabled window remembers")
	}
}

func TestRoutingKeyWords(t *testing.T) {
	cases := []struct{ in, word, words string }{
		{"INSTALL", "INSTALL", "INSTALL"},
		{"Video Played", "Video_Played", "Video_Played"},
		{"payment.success", "payment_success", "payment.success"},
		{"", "unknown", "unknown"},
		{"..", "unknown", "unknown"},
		{"#", "unknown", "unknown"},
		{"a.*.b", "a___b", "a.unknown.b"},
		{"खरीद", "unknown", "unknown"},
		{strings.Repeat("x", 100), strings.Repeat("x", 64), strings.Repeat("x", 64)},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			if got := word(c.in); got != c.word {
				t.Errorf("word(%q) = %q, want %q", c.in, got, c.word)
			}
			if got := words(c.in); got != c.words {
				t.Errorf("words(%q) = %q, want %q", c.in, got, c.words)
			}
		})
	}
}

// Outside ENV=local every enabled provider needs its secret: a start-up
// error naming the variable, like AUTH_MODE. A provider is switched off
// explicitly, and then has no route. On 470972f ENV=production started
// with every webhook open to anonymous posts.
func TestSecretsRequiredOutsideLocal(t *testing.T) {
	_, err := ConfigFromEnv(lookupOf(map[string]string{"SHOPIFY_WEBHOOK_SECRET": "s"}), "production")
	if err == nil {
		t.Fatal("ENV=production without webhook secrets accepted")
	}
	for _, v := range []string{"BRANCH_WEBHOOK_SECRET", "WEBENGAGE_WEBHOOK_SECRET", "VIDOOLY_WEBHOOK_SECRET", "GRAPHY_WEBHOOK_SECRET", "BRANCH_WEBHOOK_ENABLED=false"} {
		if !strings.Contains(err.Error(), v) {
			t.Errorf("error does not name %s:\n%v", v, err)
		}
	}
	if strings.Contains(err.Error(), "SHOPIFY_WEBHOOK_SECRET") {
		t.Errorf("error names the secret that is set:\n%v", err)
	}
	c, err := ConfigFromEnv(lookupOf(map[string]string{
		"SHOPIFY_WEBHOOK_SECRET":    "s",
		"BRANCH_WEBHOOK_SECRET":     "b",
		"WEBENGAGE_WEBHOOK_ENABLED": "false",
		"VIDOOLY_WEBHOOK_ENABLED":   "0",
		"GRAPHY_WEBHOOK_ENABLED":    "false",
	}), "production")
	if err != nil {
		t.Fatal(err)
	}
	w := must(New(c, nil, slog.New(slog.DiscardHandler), nil))
	defer w.Shutdown(context.Background())
	var routes []string
	for p := range w.Routes() {
		routes = append(routes, p)
	}
	sortStrings(routes)
	if strings.Join(routes, " ") != "POST /branch/event POST /shopify/event" {
		t.Fatalf("routes %v; want only the enabled providers", routes)
	}
	if _, err := ConfigFromEnv(lookupOf(map[string]string{"BRANCH_WEBHOOK_ENABLED": "maybe"}), "local"); err == nil || !strings.Contains(err.Error(), "BRANCH_WEBHOOK_ENABLED") {
		t.Fatalf("a bad BRANCH_WEBHOOK_ENABLED: %v", err)
	}
}
