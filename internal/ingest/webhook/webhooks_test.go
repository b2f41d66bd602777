package webhook

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/broker/jetstream"
	"github.com/event-grpc/event-grpc/internal/component/componenttest"
	policy "github.com/event-grpc/event-grpc/internal/consume"
	"github.com/event-grpc/event-grpc/internal/dedupe"
	"github.com/event-grpc/event-grpc/internal/health"
	"github.com/event-grpc/event-grpc/internal/ingest/httpsrv"
	"github.com/event-grpc/event-grpc/internal/landing"
	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/sink"
	"github.com/event-grpc/event-grpc/internal/sink/duckdb"
	"github.com/event-grpc/event-grpc/internal/sink/sinktest"
	"github.com/event-grpc/event-grpc/internal/topology"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testdata = "../../../testdata/webhooks"

// Secrets the test environments configure.
const (
	tokenSecret     = "tok-3f9c1e"
	webengageSecret = "we-secret-key-77"
	webengageLic    = "~15ba20b6a"
	shopifySecret   = "shpss_example_secret" // the secret testdata's signature was made with
	maxBody         = 64 << 10
)

func secretConfig() Config {
	c := DefaultConfig()
	c.Branch.Secret = tokenSecret
	c.Graphy.Secret = tokenSecret
	c.Vidooly.Secret = tokenSecret
	c.WebEngage.Secret = webengageSecret
	c.Shopify.Secret = shopifySecret
	return c
}

// env is a running webhook ingest: the real embedded JetStream broker, the
// routes mounted on the real HTTP server, and optionally the JSON
// consumers writing to a real DuckDB file.
type env struct {
	t      *testing.T
	broker *jetstream.Broker // nil with rabbit
	rabbit *rabbitEnv
	wh     *Webhooks
	base   string
	client *http.Client
	store  *duckdb.Sink
}

type envOpts struct {
	cfg     Config
	consume bool
	// wrap lets a test put a gate in front of the broker's Publish.
	wrap func(broker.Publisher) broker.Publisher
	// rabbit publishes to the real RabbitMQ server (a vhost of the test's
	// own) instead of the embedded JetStream.
	rabbit bool
	// reg receives the webhook metrics (nil: a fresh registry).
	reg *prometheus.Registry
	// window is the de-duplication window given to New (nil: its own).
	window dedupe.Deduper
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	e := &env{t: t}
	var pub broker.Publisher
	if o.rabbit {
		e.rabbit = newRabbitEnv(t)
		pub = e.rabbit.broker
	} else {
		b, err := jetstream.New(jetstream.Config{DataDir: t.TempDir(), Topology: topology.Default()})
		componenttest.Start(t, ctx, b, err)
		e.broker = b
		pub = b
	}

	if o.consume {
		s, err := duckdb.New(ctx, duckdb.Config{Path: filepath.Join(t.TempDir(), "w.duckdb"), Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close(context.Background()) })
		if err := s.Migrate(ctx, sinktest.DefaultTables()); err != nil {
			t.Fatal(err)
		}
		e.store = s
		cctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		if o.reg == nil {
			o.reg = prometheus.NewRegistry()
		}
		m := must(landing.NewMetrics(o.reg))
		var transport broker.Transport = e.broker
		if o.rabbit {
			transport = e.rabbit.broker
		}
		top, cat := topology.Default(), schema.Default()
		for _, name := range []string{"branch_event_q", "graphy_event_q", "shopify_events_q", "webengage_ch_event_q", "vidooly_event_q"} {
			q, ok := top.Queue(name)
			if !ok {
				t.Fatalf("no queue %s in the default topology", name)
			}
			h, err := landing.New(q, cat, func(*schema.Table) sink.Sink { return s }, log, m, nil)
			if err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				if err := policy.Run(cctx, transport, q, h.Handle); err != nil {
					t.Errorf("consume %s: %v", name, err)
				}
			})
		}
		t.Cleanup(func() { cancel(); wg.Wait() })
	}

	if o.wrap != nil {
		pub = o.wrap(pub)
	}
	if o.reg == nil {
		o.reg = prometheus.NewRegistry()
	}
	e.wh = must(New(o.cfg, pub, o.window, log, o.reg))
	srv := httpsrv.New(httpsrv.Config{Addr: "127.0.0.1:0", MaxBodyBytes: maxBody, Logger: log}, nil, health.New())
	for pattern, h := range e.wh.Routes() {
		srv.Ingest(pattern, h)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	e.client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	e.base = "http://" + srv.Addr().String()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		tr.CloseIdleConnections()
		if err := srv.Shutdown(sctx); err != nil {
			t.Errorf("http shutdown: %v", err)
		}
		if err := e.wh.Shutdown(sctx); err != nil {
			t.Errorf("webhook shutdown: %v", err)
		}
	})
	return e
}

// with is e reporting to t (a subtest).
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

type answer struct {
	code int
	body string
	hdr  http.Header
}

// post sends body to path (with query) and the headers given; the content
// type is application/json unless headers say otherwise.
func (e *env) post(path string, query url.Values, body []byte, headers map[string]string) answer {
	e.t.Helper()
	u := e.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{code: resp.StatusCode, body: string(b), hdr: resp.Header}
}

// count is how many messages a queue holds.
func (e *env) count(queue string) int {
	e.t.Helper()
	if e.rabbit != nil {
		return e.rabbit.depth(e.t, queue)
	}
	n, _, err := e.broker.Peek(context.Background(), queue, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) peek(queue string) []broker.Delivery {
	e.t.Helper()
	_, ds, err := e.broker.Peek(context.Background(), queue, 100)
	if err != nil {
		e.t.Fatal(err)
	}
	return ds
}

// row waits until query's first row, joined by "|", is want.
func (e *env) row(query, want string) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		_, rows, err := e.store.Query(context.Background(), query, 10)
		if err != nil {
			e.t.Fatalf("%s: %v", query, err)
		}
		got = ""
		if len(rows) > 0 {
			got = strings.Join(rows[0], "|")
		}
		if got == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("%s\n got: %s\nwant: %s", query, got, want)
}

func sample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// shopifyHeaders reads the recorded header set of a Shopify sample and
// signs body with secret.
func shopifyHeaders(t *testing.T, body []byte, secret string) map[string]string {
	t.Helper()
	var h map[string]string
	if err := json.Unmarshal(sample(t, "shopify/orders_create.headers.json"), &h); err != nil {
		t.Fatal(err)
	}
	h[HeaderShopifyHmac] = ShopifySignature(secret, body)
	return h
}

func tokenQuery() url.Values { return url.Values{TokenQuery: {tokenSecret}} }

func webengageQuery(eventType string) url.Values {
	return url.Values{
		"eventType":   {eventType},
		"licenseCode": {webengageLic},
		"secret":      {WebEngageSecret(webengageLic, webengageSecret)},
	}
}

// Every sample, posted as its provider posts it, lands in its table with
// the right typed values.
func TestSamplesLandInTables(t *testing.T) {
	e := newEnv(t, envOpts{cfg: secretConfig(), consume: true})
	tokenHdr := map[string]string{TokenHeader: tokenSecret}
	cases := []struct {
		name, path, file string
		query            url.Values
		headers          map[string]string
		sql, want        string
	}{
		{
			name: "branch install", path: "/branch/event", file: "branch/install.json", query: tokenQuery(),
			sql: `SELECT name, event_time, "timestamp", user_data_os, user_data_aaid, user_data_developer_identity, campaign, channel, tags, geo_city_en,
				attributed, first_event_for_user, di_match_click_token, minutes_from_last_attributed_touch_to_event, json_extract_string(custom_data, '$.install_source')
				FROM branch_event WHERE id = '1290412837471623461'`,
			want: "INSTALL|2024-06-10 08:30:15.482|1718008215482|ANDROID|38400000-8cf0-11bd-b23e-10b96e40000d|u_8f3a2c|diwali_sale|whatsapp|['festive','invite']|Pune|1|1|4519283746|2|play_store",
		},
		{
			name: "branch open", path: "/branch/event", file: "branch/open.json", headers: tokenHdr,
			sql:  `SELECT name, user_data_os, user_data_idfa, existing_user, seconds_from_install, campaign, stage FROM branch_event WHERE id = '1290498871120034712'`,
			want: "OPEN|IOS|EA7583CD-A667-48BC-B806-42ECB2B48606|1|86418|monsoon_push|active",
		},
		{
			name: "branch purchase", path: "/branch/event", file: "branch/purchase.json", query: tokenQuery(),
			sql: `SELECT name, customer_event_alias, json_extract_string(event_data, '$.transaction_id'), CAST(json_extract(event_data, '$.revenue') AS DOUBLE),
				json_array_length(content_items), json_extract_string(content_items, '$[0].$sku') FROM branch_event WHERE id = '1290512093847712003'`,
			want: "PURCHASE|checkout_complete|ORD-2024-000981|2499|2|sku_4411",
		},
		{
			name: "graphy signup", path: "/graphy/event", file: "graphy/learner_signup.json", headers: tokenHdr,
			sql:  `SELECT event, event_time, school_id, learner_id, learner_email, learner_phone, product_id FROM graphy_event WHERE id = 'whk_6651cf01b2e1'`,
			want: "learner.signup|2024-06-10 08:12:44|creatorhub|lrn_90ab|asha@example.com|+919812345678|",
		},
		{
			name: "graphy enrolment", path: "/graphy/event", file: "graphy/course_enrolled.json", query: tokenQuery(),
			sql:  `SELECT event, product_id, product_title, product_type, json_extract_string(data, '$.enrollment.id') FROM graphy_event WHERE id = 'whk_6651d0c2a3f3'`,
			want: "course.enrolled|crs_react_101|React for Beginners|course|enr_2f7c1d",
		},
		{
			name: "graphy payment", path: "/graphy/event", file: "graphy/payment_success.json", query: tokenQuery(),
			sql:  `SELECT event, payment_id, amount, currency, payment_status, payment_gateway, coupon_code FROM graphy_event WHERE id = 'whk_6651d0c2a3f4'`,
			want: "payment.success|pay_NwX2kq|1499|INR|captured|razorpay|LEARN20",
		},
		{
			name: "webengage webhook event", path: "/webengage/event", file: "webengage/event.json",
			query:   webengageQuery("push_notification_accepted"),
			headers: map[string]string{"X-Request-Id": "9f2c4e6a8b0d1f3e"},
			// the row's id is derived from the body (landing.ContentID), so
			// two different bodies under one request id both land
			sql: `SELECT length(event_id), event_name, event_time, user_id, license_code, category, json_extract_string(event_data, '$.result'), json_extract_string(system_data, '$.sdk')
				FROM webengage_event WHERE event_name = 'push_notification_accepted'`,
			want: "64|push_notification_accepted|2024-06-10 08:30:15|u_8f3a2c|~15ba20b6a|system|SUCCESS|ANDROID",
		},
		{
			name: "webengage api event", path: "/webengage/event", file: "webengage/event_api.json",
			headers: map[string]string{TokenHeader: webengageSecret},
			sql:     `SELECT event_name, event_time, user_id, CAST(json_extract(event_data, '$.price') AS BIGINT) FROM webengage_event WHERE event_id = 'evt_01J05ZK3M2'`,
			want:    "Added To Cart|2024-06-10 08:30:15|u_8f3a2c|2199",
		},
		{
			name: "vidooly video", path: "/vidooly/event", file: "vidooly/video_metrics.json", query: tokenQuery(),
			sql: `SELECT event, event_time, platform, "date", channel_id, channel_subscribers, video_id, video_published_at, video_duration_seconds,
				views, likes, watch_time_minutes, impressions_ctr, estimated_revenue, currency FROM vidooly_event WHERE id = 'vdl_evt_8c1f2a9b44'`,
			want: "video.metrics|2024-06-10 08:30:15|youtube|2024-06-09 00:00:00|UCq3Ej1Yt0cD9a2kq4mZx1Qw|251230|dQw4w9WgXcQ|2024-06-08 12:00:00|642|40233|1823|118240.5|0.064|1843.75|INR",
		},
		{
			name: "vidooly channel", path: "/vidooly/event", file: "vidooly/channel_metrics.json", headers: tokenHdr,
			sql:  `SELECT event, channel_title, video_id, views, subscribers_gained, subscribers_lost FROM vidooly_event WHERE id = 'vdl_evt_8c1f2a9c02'`,
			want: "channel.metrics|Asha Cooks||211804|1204|87",
		},
		{
			name: "shopify order", path: "/shopify/event", file: "shopify/orders_create.json",
			sql: `SELECT webhook_id, topic, shop_domain, api_version, triggered_at, id, order_number, name, email, customer_id,
				total_price, subtotal_price, total_tax, currency, financial_status, fulfillment_status, gateway, source_name, created_at, updated_at, cancelled_at,
				json_extract_string(payload, '$.line_items[0].sku')
				FROM shopify_event WHERE webhook_id = 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043'`,
			want: "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043|orders/create|example-shop.myshopify.com|2024-04|2024-06-10T08:30:16.123456789Z|5748392019283|1043|#1043|asha@example.com|7283910293|" +
				"2499|2199|300|INR|paid||razorpay|web|2024-06-10 08:30:15|2024-06-10 08:30:16|1970-01-01 00:00:00|KURTA-M-BLUE",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := e.with(t)
			body := sample(t, c.file)
			headers := c.headers
			if c.path == "/shopify/event" {
				headers = shopifyHeaders(t, body, shopifySecret)
			}
			a := e.post(c.path, c.query, body, headers)
			if a.code != http.StatusOK {
				t.Fatalf("status %d: %s", a.code, a.body)
			}
			var acc Accepted
			if err := json.Unmarshal([]byte(a.body), &acc); err != nil || acc.Events != 1 || acc.Duplicate {
				t.Fatalf("answer %q (%v)", a.body, err)
			}
			e.row(c.sql, c.want)
		})
	}

	t.Run("webengage user", func(t *testing.T) {
		e := e.with(t)
		a := e.post("/webengage/event", nil, sample(t, "webengage/user.json"), map[string]string{TokenHeader: webengageSecret})
		if a.code != http.StatusOK {
			t.Fatalf("status %d: %s", a.code, a.body)
		}
		ds := e.peek("webengage_user_event_q")
		if len(ds) != 1 {
			t.Fatalf("webengage_user_event_q holds %d messages, want 1", len(ds))
		}
		d := ds[0]
		var u map[string]any
		if err := json.Unmarshal(d.Body, &u); err != nil {
			t.Fatal(err)
		}
		if u["userId"] != "u_8f3a2c" || u["firstName"] != "Asha" || d.RoutingKey != "user" || d.Headers[HeaderSource] != "webengage" || d.Headers[broker.HeaderInsertTime] == "" {
			t.Fatalf("user message %+v: %s", d, d.Body)
		}
		if n := e.count("webengage_ch_event_q"); n != 0 {
			t.Fatalf("a user update reached the events queue (%d)", n)
		}
	})

	t.Run("branch array by name", func(t *testing.T) {
		e := e.with(t)
		a := mustObj(t, sample(t, "branch/install.json"))
		b := mustObj(t, sample(t, "branch/open.json"))
		a["id"], b["id"] = json.Number("777000000000000001"), json.Number("777000000000000002")
		b["name"] = "Video Played"
		body, _ := json.Marshal([]any{a, b})
		ans := e.post("/branch/event", tokenQuery(), body, nil)
		if ans.code != http.StatusOK || !strings.Contains(ans.body, `"events":2`) {
			t.Fatalf("status %d: %s", ans.code, ans.body)
		}
		e.row(`SELECT count(*), string_agg(name, ',' ORDER BY name) FROM branch_event WHERE id IN ('777000000000000001', '777000000000000002')`, "2|INSTALL,Video Played")
	})
}

func mustObj(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// A message a provider published carries the routing key, content type and
// headers the consumers and the topology expect.
func TestMessageShape(t *testing.T) {
	e := newEnv(t, envOpts{cfg: DefaultConfig()})
	before := time.Now().UnixMilli()
	if a := e.post("/graphy/event", nil, sample(t, "graphy/payment_success.json"), nil); a.code != http.StatusOK {
		t.Fatalf("status %d: %s", a.code, a.body)
	}
	ds := e.peek("graphy_event_q")
	if len(ds) != 1 {
		t.Fatalf("%d messages", len(ds))
	}
	d := ds[0]
	if d.RoutingKey != "payment.success" || d.ContentType != ContentType || d.Exchange != "graphy_event.tx" || d.Headers[HeaderSource] != "graphy" {
		t.Fatalf("message %+v", d)
	}
	var ms int64
	fmt.Sscan(d.Headers[broker.HeaderInsertTime], &ms)
	if ms < before || ms > time.Now().UnixMilli() {
		t.Fatalf("x-insert-time %q is not the time of the request", d.Headers[broker.HeaderInsertTime])
	}
	if !json.Valid(d.Body) || !bytes.Contains(d.Body, []byte(`"pay_NwX2kq"`)) {
		t.Fatalf("body %s", d.Body)
	}
}

// Signatures and tokens: a request that is not the provider's is refused
// with 401 and publishes nothing.
func TestVerification(t *testing.T) {
	e := newEnv(t, envOpts{cfg: secretConfig()})
	order := sample(t, "shopify/orders_create.json")
	tampered := bytes.Replace(order, []byte(`"2499.00"`), []byte(`"2490.00"`), 1)
	if bytes.Equal(tampered, order) {
		t.Fatal("the sample has no total to change")
	}
	oneByte := append([]byte{}, order...)
	oneByte[len(oneByte)/2] ^= 0x01
	noSig := shopifyHeaders(t, order, shopifySecret)
	delete(noSig, HeaderShopifyHmac)
	install := sample(t, "branch/install.json")
	weEvent := sample(t, "webengage/event.json")
	// The header set recorded beside the sample (docs/sources.md posts it
	// as is) is signed with shopifySecret; another webhook id, so the
	// de-duplication window does not answer it.
	var recorded map[string]string
	if err := json.Unmarshal(sample(t, "shopify/orders_create.headers.json"), &recorded); err != nil {
		t.Fatal(err)
	}
	recorded[HeaderShopifyWebhookID] = "d0c5d0c5-0000-4000-8000-000000000002"

	cases := []struct {
		name, path string
		query      url.Values
		headers    map[string]string
		body       []byte
		code       int
		queue      string
	}{
		{"shopify signed", "/shopify/event", nil, shopifyHeaders(t, order, shopifySecret), order, 200, "shopify_events_q"},
		{"shopify recorded headers", "/shopify/event", nil, recorded, order, 200, "shopify_events_q"},
		{"shopify one byte changed", "/shopify/event", nil, shopifyHeaders(t, order, shopifySecret), oneByte, 401, "shopify_events_q"},
		{"shopify total changed", "/shopify/event", nil, shopifyHeaders(t, order, shopifySecret), tampered, 401, "shopify_events_q"},
		{"shopify no signature", "/shopify/event", nil, noSig, order, 401, "shopify_events_q"},
		{"shopify other secret", "/shopify/event", nil, shopifyHeaders(t, order, "not-the-secret"), order, 401, "shopify_events_q"},
		{"shopify signature not base64", "/shopify/event", nil, map[string]string{HeaderShopifyHmac: "%%%"}, order, 401, "shopify_events_q"},
		{"branch token in query", "/branch/event", tokenQuery(), nil, install, 200, "branch_event_q"},
		{"branch no token", "/branch/event", nil, nil, install, 401, "branch_event_q"},
		{"branch wrong token", "/branch/event", url.Values{TokenQuery: {"guess"}}, nil, install, 401, "branch_event_q"},
		{"branch wrong header token", "/branch/event", nil, map[string]string{TokenHeader: tokenSecret + "x"}, install, 401, "branch_event_q"},
		{"webengage signed", "/webengage/event", webengageQuery("push_notification_accepted"), nil, weEvent, 200, "webengage_ch_event_q"},
		{"webengage other license", "/webengage/event", url.Values{"licenseCode": {"~other"}, "secret": {WebEngageSecret(webengageLic, webengageSecret)}}, nil, weEvent, 401, "webengage_ch_event_q"},
		{"webengage no secret", "/webengage/event", url.Values{"licenseCode": {webengageLic}}, nil, weEvent, 401, "webengage_ch_event_q"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := e.with(t)
			before := e.count(c.queue)
			a := e.post(c.path, c.query, c.body, c.headers)
			if a.code != c.code {
				t.Fatalf("status %d, want %d: %s", a.code, c.code, a.body)
			}
			want := before
			if c.code == 200 {
				want++
			}
			if got := e.count(c.queue); got != want {
				t.Fatalf("%s holds %d messages, want %d", c.queue, got, want)
			}
		})
	}
	if got := testutil.ToFloat64(e.wh.m.requests.WithLabelValues("shopify", "401")); got != 5 {
		t.Fatalf("shopify 401s counted: %v, want 5", got)
	}
}

// Without a secret every request is accepted.
func TestNoSecretAccepts(t *testing.T) {
	e := newEnv(t, envOpts{cfg: DefaultConfig()})
	order := sample(t, "shopify/orders_create.json")
	for _, c := range []struct{ path, file, queue string }{
		{"/branch/event", "branch/open.json", "branch_event_q"},
		{"/vidooly/event", "vidooly/channel_metrics.json", "vidooly_event_q"},
		{"/shopify/event", "shopify/orders_create.json", "shopify_events_q"},
	} {
		var h map[string]string
		if c.path == "/shopify/event" {
			h = shopifyHeaders(t, order, "anything")
		}
		if a := e.post(c.path, nil, sample(t, c.file), h); a.code != http.StatusOK {
			t.Fatalf("%s: status %d: %s", c.path, a.code, a.body)
		}
		if n := e.count(c.queue); n != 1 {
			t.Fatalf("%s holds %d", c.queue, n)
		}
	}
}

// A Shopify delivery repeated with the same webhook id is answered 200 and
// stored once.
func TestShopifyDedupe(t *testing.T) {
	e := newEnv(t, envOpts{cfg: secretConfig(), consume: true})
	order := sample(t, "shopify/orders_create.json")
	h := shopifyHeaders(t, order, shopifySecret)
	for i := range 3 {
		a := e.post("/shopify/event", nil, order, h)
		if a.code != http.StatusOK {
			t.Fatalf("delivery %d: status %d: %s", i, a.code, a.body)
		}
		if dup := strings.Contains(a.body, `"duplicate":true`); dup != (i > 0) {
			t.Fatalf("delivery %d answered %s", i, a.body)
		}
	}
	if got := testutil.ToFloat64(e.wh.m.duplicates.WithLabelValues("shopify")); got != 2 {
		t.Fatalf("duplicates counted %v, want 2", got)
	}
	// Another webhook id is another delivery.
	h["X-Shopify-Webhook-Id"] = "c0ffee00-0000-4000-8000-000000000001"
	if a := e.post("/shopify/event", nil, order, h); a.code != http.StatusOK || strings.Contains(a.body, "duplicate") {
		t.Fatalf("second delivery: %d %s", a.code, a.body)
	}
	e.row(`SELECT count(*), count(DISTINCT webhook_id) FROM shopify_event`, "2|2")
}

// A Shopify delivery whose publish failed is not remembered: the
// provider's retry is published, not answered as a duplicate, and only a
// retry after that is one.
func TestShopifyFailedDeliveryIsRetried(t *testing.T) {
	f := &failFirst{n: 1}
	reg := prometheus.NewRegistry()
	e := newEnv(t, envOpts{cfg: secretConfig(), reg: reg, wrap: func(p broker.Publisher) broker.Publisher { f.Publisher = p; return f }})
	order := sample(t, "shopify/orders_create.json")
	h := shopifyHeaders(t, order, shopifySecret)
	if a := e.post("/shopify/event", nil, order, h); a.code != http.StatusServiceUnavailable {
		t.Fatalf("failed publish answered %d: %s", a.code, a.body)
	}
	for i, dup := range []bool{false, true} {
		a := e.post("/shopify/event", nil, order, h)
		if a.code != http.StatusOK || strings.Contains(a.body, `"duplicate":true`) != dup {
			t.Fatalf("retry %d: %d %s, want duplicate=%v", i, a.code, a.body, dup)
		}
	}
	if n := e.count("shopify_events_q"); n != 1 {
		t.Fatalf("shopify_events_q holds %d messages, want 1", n)
	}
	// The failed delivery was released, not left claimed until its claim
	// expired: the retry found it new, not in flight.
	if got := hits(t, reg, "in_flight"); got != 0 {
		t.Fatalf("the retry found the failed delivery in flight %v times", got)
	}
	if got := hits(t, reg, "done"); got != 1 {
		t.Fatalf("%v repeats found done, want 1", got)
	}
}

// hits is the value of eventgrpc_dedupe_hits_total{state} in reg.
func hits(t *testing.T, reg *prometheus.Registry, state string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetName() == "eventgrpc_dedupe_hits_total" && len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == state {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no eventgrpc_dedupe_hits_total{state=%q}", state)
	return 0
}

// failFirst fails the first n publishes as a broker that is down.
type failFirst struct {
	broker.Publisher
	mu sync.Mutex
	n  int
}

func (f *failFirst) Publish(ctx context.Context, exchange string, msgs []broker.Message) error {
	f.mu.Lock()
	fail := f.n > 0
	f.n--
	f.mu.Unlock()
	if fail {
		return fmt.Errorf("%w: test", broker.ErrUnavailable)
	}
	return f.Publisher.Publish(ctx, exchange, msgs)
}

// The window given to New is the service's: two instances sharing one
// through Redis answer a delivery the other published as a duplicate,
// and the repeat is not published again.
func TestShopifyWindowSharedThroughRedis(t *testing.T) {
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "eventgrpc:test:" + hex.EncodeToString(b) + ":"
	open := func() dedupe.Store {
		d, err := dedupe.Open(dedupe.Config{Window: time.Minute, RedisAddrs: []string{"127.0.0.1:6379"}, KeyPrefix: prefix, RedisTimeout: time.Second},
			slog.New(slog.DiscardHandler), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return d
	}
	da, db := open(), open()
	t.Cleanup(func() {
		for _, d := range []dedupe.Store{da, db} {
			d.Close()
		}
		admin := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
		defer admin.Close()
		keys, err := admin.Keys(ctx, prefix+"*").Result()
		if err == nil && len(keys) > 0 {
			err = admin.Del(ctx, keys...).Err()
		}
		if err != nil {
			t.Errorf("redis cleanup: %v", err)
		}
	})
	a := newEnv(t, envOpts{cfg: secretConfig(), window: da})
	c := newEnv(t, envOpts{cfg: secretConfig(), window: db})
	order := sample(t, "shopify/orders_create.json")
	h := shopifyHeaders(t, order, shopifySecret)
	if ans := a.post("/shopify/event", nil, order, h); ans.code != http.StatusOK || strings.Contains(ans.body, "duplicate") {
		t.Fatalf("first delivery: %d %s", ans.code, ans.body)
	}
	if ans := c.post("/shopify/event", nil, order, h); ans.code != http.StatusOK || !strings.Contains(ans.body, `"duplicate":true`) {
		t.Fatalf("the repeat at the other instance: %d %s", ans.code, ans.body)
	}
	if na, nc := a.count("shopify_events_q"), c.count("shopify_events_q"); na != 1 || nc != 0 {
		t.Fatalf("published %d and %d times, want 1 and 0", na, nc)
	}
}

// redisAddr is the test Redis (REDIS_URL, default redis://127.0.0.1:6379).
func redisAddr(t *testing.T) string {
	u := cmp.Or(os.Getenv("REDIS_URL"), "redis://127.0.0.1:6379")
	o, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("REDIS_URL: %v", err)
	}
	return o.Addr
}

// A window that fails does not fail a delivery: one whose claim failed is
// published unchecked, and every failed claim, commit and forget is
// counted by op.
func TestShopifyWindowErrorsAreCounted(t *testing.T) {
	b := make([]byte, 6)
	rand.Read(b)
	// The test's keys are claims only (never committed) and expire after
	// the PendingTTL.
	prefix := "eventgrpc:test:" + hex.EncodeToString(b) + ":"
	openRedis := func() *dedupe.Redis {
		r, err := dedupe.NewRedis(dedupe.Config{Window: time.Minute, PendingTTL: 2 * time.Second, RedisAddrs: []string{redisAddr(t)}, KeyPrefix: prefix, RedisTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	order := sample(t, "shopify/orders_create.json")
	h := shopifyHeaders(t, order, shopifySecret)
	failed := func(e *env, op string) float64 { return testutil.ToFloat64(e.wh.m.window.WithLabelValues(op)) }

	// A closed client: the claim and then the commit fail; the delivery is
	// published all the same.
	closed := openRedis()
	closed.Close()
	e := newEnv(t, envOpts{cfg: secretConfig(), window: closed})
	if a := e.post("/shopify/event", nil, order, h); a.code != http.StatusOK || strings.Contains(a.body, "duplicate") {
		t.Fatalf("delivery: %d %s", a.code, a.body)
	}
	if n := e.count("shopify_events_q"); n != 1 {
		t.Fatalf("shopify_events_q holds %d messages, want 1", n)
	}
	if c, m, f := failed(e, "claim"), failed(e, "commit"), failed(e, "forget"); c != 1 || m != 1 || f != 0 {
		t.Fatalf("claim, commit, forget errors counted %v %v %v, want 1 1 0", c, m, f)
	}

	// The window fails while the delivery is published, and the publish
	// fails: the claim cannot be released.
	r := openRedis()
	e = newEnv(t, envOpts{cfg: secretConfig(), window: r, wrap: func(broker.Publisher) broker.Publisher {
		return closeThenFail{r}
	}})
	if a := e.post("/shopify/event", nil, order, h); a.code != http.StatusServiceUnavailable {
		t.Fatalf("failed publish answered %d: %s", a.code, a.body)
	}
	if c, m, f := failed(e, "claim"), failed(e, "commit"), failed(e, "forget"); c != 0 || m != 0 || f != 1 {
		t.Fatalf("claim, commit, forget errors counted %v %v %v, want 0 0 1", c, m, f)
	}
}

// closeThenFail is a broker that is down whose publish also closes a
// Redis window.
type closeThenFail struct{ r *dedupe.Redis }

func (c closeThenFail) Publish(context.Context, string, []broker.Message) error {
	c.r.Close()
	return fmt.Errorf("%w: test", broker.ErrUnavailable)
}

// Each refusal has its status, and a refused request publishes nothing.
func TestRefusals(t *testing.T) {
	e := newEnv(t, envOpts{cfg: DefaultConfig()})
	install := sample(t, "branch/install.json")
	noTimestamp := mustObj(t, install)
	delete(noTimestamp, "timestamp")
	noTS, _ := json.Marshal(noTimestamp)
	wrongType := bytes.Replace(install, []byte(`"attributed": true`), []byte(`"attributed": "maybe"`), 1)
	big := append(append([]byte(`{"id":"1","name":"INSTALL","timestamp":1718008215482,"pad":"`), bytes.Repeat([]byte("x"), maxBody)...), `"}`...)

	cases := []struct {
		name, path  string
		contentType string
		body        []byte
		code        int
		mentions    string
	}{
		{"malformed JSON", "/branch/event", "", []byte(`{"id": 1, "name": "INSTALL",`), 400, "not valid JSON"},
		{"not an object", "/branch/event", "", []byte(`"INSTALL"`), 400, "not a JSON object"},
		{"array of numbers", "/graphy/event", "", []byte(`[1, 2]`), 400, "array element 0"},
		{"empty array", "/vidooly/event", "", []byte(`[]`), 400, "empty array"},
		{"trailing data", "/branch/event", "", append(append([]byte{}, install...), []byte(`{}`)...), 400, "something follows"},
		{"required field missing", "/branch/event", "", noTS, 400, "timestamp"},
		{"wrong type", "/branch/event", "", wrongType, 400, "attributed"},
		{"neither event nor user", "/webengage/event", "", []byte(`{"feedback": "great app"}`), 400, "neither"},
		{"invalid UTF-8", "/graphy/event", "", []byte("{\"event\":\"x\xff\"}"), 400, "UTF-8"},
		{"over the body limit", "/branch/event", "", big, 413, "limit"},
		{"xml", "/shopify/event", "application/xml", []byte(`<order/>`), 415, "content type"},
		{"no content type", "/graphy/event", "-", []byte(`{}`), 415, "content type"},
	}
	queues := []string{"branch_event_q", "graphy_event_q", "vidooly_event_q", "webengage_ch_event_q", "webengage_user_event_q", "shopify_events_q"}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := e.with(t)
			h := map[string]string{}
			switch c.contentType {
			case "":
			case "-":
				h["Content-Type"] = ""
			default:
				h["Content-Type"] = c.contentType
			}
			a := e.post(c.path, nil, c.body, h)
			if a.code != c.code {
				t.Fatalf("status %d, want %d: %s", a.code, c.code, a.body)
			}
			if !strings.Contains(a.body, c.mentions) {
				t.Fatalf("answer %q does not mention %q", a.body, c.mentions)
			}
			for _, q := range queues {
				if n := e.count(q); n != 0 {
					t.Fatalf("%s holds %d messages after a refusal", q, n)
				}
			}
		})
	}
}

// gate holds every Publish until released, so a test can fill a pool.
type gate struct {
	broker.Publisher
	entered chan struct{}
	release chan struct{}
}

func (g *gate) Publish(ctx context.Context, exchange string, msgs []broker.Message) error {
	g.entered <- struct{}{}
	select {
	case <-g.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Publisher.Publish(ctx, exchange, msgs)
}

// A full pool refuses at once with 429 and Retry-After, and the refused
// request publishes nothing; the waiting ones are published when the
// workers free up.
func TestPoolFullIs429(t *testing.T) {
	g := &gate{entered: make(chan struct{}, 10), release: make(chan struct{})}
	cfg := DefaultConfig()
	cfg.Branch.Workers, cfg.Branch.Queue = 1, 1
	e := newEnv(t, envOpts{cfg: cfg, wrap: func(p broker.Publisher) broker.Publisher { g.Publisher = p; return g }})

	event := func(id string) []byte {
		m := mustObj(t, sample(t, "branch/install.json"))
		m["id"] = id
		b, _ := json.Marshal(m)
		return b
	}
	results := make(chan answer, 2)
	var wg sync.WaitGroup
	wg.Go(func() { results <- e.post("/branch/event", nil, event("held-1"), nil) })
	<-g.entered // the worker is busy
	wg.Go(func() { results <- e.post("/branch/event", nil, event("held-2"), nil) })
	queued := e.wh.m.queued.WithLabelValues("branch")
	for deadline := time.Now().Add(10 * time.Second); testutil.ToFloat64(queued) != 1; {
		if time.Now().After(deadline) {
			t.Fatal("the second request never queued")
		}
		time.Sleep(5 * time.Millisecond)
	}
	a := e.post("/branch/event", nil, event("refused-3"), nil)
	if a.code != http.StatusTooManyRequests || a.hdr.Get("Retry-After") != "1" || !strings.Contains(a.body, "BRANCH_EVENT_BUFFERED_CHANNEL_SIZE") {
		t.Fatalf("full pool answered %d (Retry-After %q): %s", a.code, a.hdr.Get("Retry-After"), a.body)
	}
	close(g.release)
	wg.Wait()
	close(results)
	for r := range results {
		if r.code != http.StatusOK {
			t.Fatalf("a waiting request got %d: %s", r.code, r.body)
		}
	}
	ds := e.peek("branch_event_q")
	if len(ds) != 2 {
		t.Fatalf("branch_event_q holds %d messages, want 2", len(ds))
	}
	for _, d := range ds {
		if bytes.Contains(d.Body, []byte("refused-3")) {
			t.Fatal("the refused request was published")
		}
	}
	if got := testutil.ToFloat64(e.wh.m.requests.WithLabelValues("branch", "429")); got != 1 {
		t.Fatalf("429s counted %v", got)
	}
}

// A broker that is down is a 503 with Retry-After, so the provider retries.
func TestBrokerDownIs503(t *testing.T) {
	e := newEnv(t, envOpts{cfg: DefaultConfig()})
	if err := e.broker.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	a := e.post("/graphy/event", nil, sample(t, "graphy/payment_success.json"), nil)
	if a.code != http.StatusServiceUnavailable || a.hdr.Get("Retry-After") == "" {
		t.Fatalf("status %d (Retry-After %q): %s", a.code, a.hdr.Get("Retry-After"), a.body)
	}
}

// After Shutdown, requests are refused with 503 and nothing is published.
func TestShutdownRefuses(t *testing.T) {
	e := newEnv(t, envOpts{cfg: DefaultConfig()})
	ctx := context.Background()
	componenttest.StopTwice(t, ctx, e.wh.Shutdown)
	a := e.post("/vidooly/event", nil, sample(t, "vidooly/video_metrics.json"), nil)
	if a.code != http.StatusServiceUnavailable {
		t.Fatalf("status %d: %s", a.code, a.body)
	}
	if n := e.count("vidooly_event_q"); n != 0 {
		t.Fatalf("published after shutdown: %d", n)
	}
}

func TestRoutes(t *testing.T) {
	w := must(New(DefaultConfig(), nil, nil, slog.New(slog.DiscardHandler), nil))
	defer w.Shutdown(context.Background())
	var got []string
	for p := range w.Routes() {
		got = append(got, p)
	}
	want := "POST /branch/event POST /graphy/event POST /shopify/event POST /vidooly/event POST /webengage/event"
	sortStrings(got)
	if strings.Join(got, " ") != want {
		t.Fatalf("routes %v", got)
	}
}

func sortStrings(s []string) {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
}
