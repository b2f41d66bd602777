package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/dedupe"
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

// The window New opens when it is given none holds SHOPIFY_WEBHOOK_DEDUPE_SIZE
// ids (dedupe.Local's bound: at least four fifths of them, never more) and
// is off at 0; a window given to New is the one used.
func TestWindowIsBounded(t *testing.T) {
	ctx := context.Background()
	shopifyOf := func(w *Webhooks) *endpoint {
		for _, e := range w.endpoints {
			if e.name == "shopify" {
				return e
			}
		}
		t.Fatal("no shopify endpoint")
		return nil
	}
	published := func(e *endpoint, id string) {
		key, dup, claimed := e.claim(ctx, id)
		if dup || !claimed {
			t.Fatalf("%s: duplicate %v, claimed %v before it was published", id, dup, claimed)
		}
		e.settle(ctx, key, claimed, nil)
	}
	remembered := func(e *endpoint, id string) bool { _, dup, _ := e.claim(ctx, id); return dup }

	cfg := DefaultConfig()
	cfg.DedupeWindow = 100
	w := must(New(cfg, nil, nil, slog.New(slog.DiscardHandler), nil))
	defer w.Shutdown(ctx)
	e := shopifyOf(w)
	for i := range 200 {
		published(e, fmt.Sprint("d", i))
	}
	for i := 120; i < 200; i++ {
		if !remembered(e, fmt.Sprint("d", i)) {
			t.Fatalf("d%d, one of the last 80 of a window of 100, forgotten", i)
		}
	}
	for i := range 100 {
		if remembered(e, fmt.Sprint("d", i)) {
			t.Fatalf("d%d remembered beyond the window's 100 ids", i)
		}
	}

	cfg.DedupeWindow = 0
	off := must(New(cfg, nil, nil, slog.New(slog.DiscardHandler), nil))
	defer off.Shutdown(ctx)
	e = shopifyOf(off)
	e.settle(ctx, "", false, nil)
	if key, dup, _ := e.claim(ctx, "x"); key != "" || dup || e.window != nil {
		t.Fatal("a disabled window remembers")
	}

	given := must(dedupe.Open(dedupe.Config{Window: time.Minute}, slog.New(slog.DiscardHandler), nil))
	defer given.Close()
	cfg.DedupeWindow = DefaultDedupeWindow
	shared := must(New(cfg, nil, given, slog.New(slog.DiscardHandler), nil))
	defer shared.Shutdown(ctx)
	if e := shopifyOf(shared); e.window != given || shared.own != nil {
		t.Fatalf("the window given is not the one used: %v", e.window)
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
	w := must(New(c, nil, nil, slog.New(slog.DiscardHandler), nil))
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
