package webhook

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/ingest"
	"github.com/event-grpc/event-grpc/internal/landing"
	"github.com/event-grpc/event-grpc/internal/schema"
)

// seed adds the provider's testdata samples and a few broken bodies.
func seed(f *testing.F, provider string) {
	files, err := filepath.Glob(filepath.Join(testdata, provider, "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no samples for %s (%v)", provider, err)
	}
	for _, p := range files {
		if strings.HasSuffix(p, ".headers.json") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		if b[0] == '{' { // and as an array of two
			f.Add([]byte("[" + string(b) + "," + string(b) + "]"))
		}
	}
	for _, s := range []string{``, `{`, `[]`, `null`, `[{"a":1},2]`, `{"a":1} {}`, `{"timestamp":{}}`, "\xff"} {
		f.Add([]byte(s))
	}
}

// fuzzParse checks a parser's contract on body: never a panic; either a
// 400-class error, or messages the JSON consumer reads back as exactly the
// objects counted, each mapping to a row of table (nil: not stored).
func fuzzParse(t *testing.T, parse func(*request) (parsed, error), req *request, table func(broker.Message) *schema.Table) {
	p, err := parse(req)
	if err != nil {
		if !fault.IsPermanent(err) || ingest.StatusOf(err).HTTP != http.StatusBadRequest {
			t.Fatalf("parse error %v is not a 400", err)
		}
		return
	}
	if len(p.msgs) == 0 || p.events == 0 {
		t.Fatalf("no error and nothing to publish: %+v", p)
	}
	n := 0
	for _, m := range p.msgs {
		if m.RoutingKey == "" || strings.ContainsAny(m.RoutingKey, " *#\t\n") || m.ContentType != ContentType {
			t.Fatalf("message %q: key %q, content type %q", m.Body, m.RoutingKey, m.ContentType)
		}
		if m.Headers[HeaderSource] == "" || m.Headers[broker.HeaderInsertTime] == "" {
			t.Fatalf("headers %v", m.Headers)
		}
		if !json.Valid(m.Body) {
			t.Fatalf("body is not JSON: %q", m.Body)
		}
		srcs, err := landing.DecodeJSON(broker.Delivery{ID: m.ID, Headers: m.Headers, Body: m.Body})
		if err != nil {
			t.Fatalf("the consumer cannot read %q: %v", m.Body, err)
		}
		n += len(srcs)
		if tbl := table(m); tbl != nil {
			mp, err := schema.CompileJSON(tbl)
			if err != nil {
				t.Fatal(err)
			}
			b := schema.NewBatch(tbl)
			for i := range srcs {
				if err := mp.Append(b, &srcs[i]); err != nil {
					t.Fatalf("accepted %q, but it does not map to %s: %v", m.Body, tbl.Name, err)
				}
			}
		}
	}
	if n != p.events {
		t.Fatalf("%d objects published, %d counted", n, p.events)
	}
}

func fuzzRequest(body []byte) *request {
	return &request{header: http.Header{}, query: url.Values{}, body: body, now: time.UnixMilli(1718008215482)}
}

// fuzzOneTable fuzzes the parser of a provider whose messages all land in
// table, with bodies alone (no headers or query).
func fuzzOneTable(f *testing.F, provider string, parse func(*request) (parsed, error), table *schema.Table) {
	seed(f, provider)
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzParse(t, parse, fuzzRequest(body), func(broker.Message) *schema.Table { return table })
	})
}

func FuzzBranch(f *testing.F)  { fuzzOneTable(f, "branch", branch.parse, branchTable) }
func FuzzGraphy(f *testing.F)  { fuzzOneTable(f, "graphy", graphy.parse, graphyTable) }
func FuzzVidooly(f *testing.F) { fuzzOneTable(f, "vidooly", vidooly.parse, vidoolyTable) }

func FuzzWebEngage(f *testing.F) {
	seed(f, "webengage")
	f.Add([]byte(`[{"eventName":"a"},{"userId":"u1"}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req := fuzzRequest(body)
		req.header.Set("X-Request-Id", "req-1")
		req.query.Set("eventType", "fuzz_event")
		fuzzParse(t, parseWebEngage, req, func(m broker.Message) *schema.Table {
			if m.RoutingKey == "event" {
				return webengageTable
			}
			return nil
		})
	})
}

func FuzzShopify(f *testing.F) {
	seed(f, "shopify")
	f.Fuzz(func(t *testing.T, body []byte) {
		req := fuzzRequest(body)
		req.header.Set("X-Shopify-Topic", "orders/create")
		req.header.Set(HeaderShopifyWebhookID, "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
		req.header.Set(HeaderShopifyHmac, ShopifySignature("k", []byte("another body")))
		if err := verifyShopify("k", req); err == nil && string(body) != "another body" {
			t.Fatal("a signature of another body verified")
		}
		fuzzParse(t, parseShopify, req, func(broker.Message) *schema.Table { return shopifyTable })
	})
}
