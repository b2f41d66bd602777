package connectsrv_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/gen/eventgrpc/v1/eventgrpcv1connect"
	"github.com/event-grpc/event-grpc/internal/app"
	"github.com/event-grpc/event-grpc/internal/app/apptest"
	"github.com/event-grpc/event-grpc/internal/auth"
	"github.com/event-grpc/event-grpc/internal/ingest/ingesttest"
)

const (
	path    = "/eventgrpc.v1.EventService/dispatch"
	testKey = "k3y-for-the-web-app-0123456789abcdef"
)

func events(user string, ids ...string) *eventgrpcv1.Events {
	req := &eventgrpcv1.Events{Header: &eventgrpcv1.Header{UserId: user}}
	for _, id := range ids {
		req.Events = append(req.Events, &eventgrpcv1.Event{Id: id, Timestamp: strconv.FormatInt(time.Now().UnixMilli(), 10),
			EventOf: &eventgrpcv1.Event_TestEvent{TestEvent: &eventgrpcv1.TestEvent{}}})
	}
	return req
}

func post(t *testing.T, url, ctype string, body []byte, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	return ingesttest.Do(t, req, hdr)
}

func stored(t *testing.T, a *app.App, user, want string) {
	t.Helper()
	apptest.WaitRows(t, a, 20*time.Second, "SELECT coalesce(string_agg(event_id, ',' ORDER BY event_id), '') FROM event WHERE user_id = '"+user+"'", want)
}

// connectError is the Connect protocol's JSON error body.
type connectError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func TestConnectJSONReturnsPerEventResults(t *testing.T) {
	a := apptest.Start(t, nil)
	body := `{"header":{"userId":"cj"},"events":[{"id":"cj-1","testEvent":{}},{"id":"cj-2"},{"id":"cj-3","launch_event":{}}]}`
	resp, b := post(t, apptest.URL(a)+path, "application/json", []byte(body), nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%s %s %s", resp.Status, resp.Header.Get("Content-Type"), b)
	}
	var got struct {
		Status  string `json:"status"`
		Results []struct {
			Index    int    `json:"index"`
			EventID  string `json:"eventId"`
			Accepted bool   `json:"accepted"`
			Reason   string `json:"reason"`
		} `json:"results"`
		Accepted int `json:"accepted"`
		Rejected int `json:"rejected"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if got.Status != "STATUS_PARTIAL" || got.Accepted != 2 || got.Rejected != 1 || len(got.Results) != 3 {
		t.Fatalf("response %s", b)
	}
	if r := got.Results[1]; r.Accepted || r.EventID != "cj-2" || !strings.Contains(r.Reason, "eventOf") {
		t.Fatalf("result of the event without payload: %+v", r)
	}
	if !got.Results[0].Accepted || !got.Results[2].Accepted {
		t.Fatalf("results %s", b)
	}
	stored(t, a, "cj", "cj-1,cj-3")
	// Counted under its own source.
	if m := metrics(t, a); !strings.Contains(m, `eventgrpc_ingest_events_received_total{source="connect"} 3`) {
		t.Fatalf("no connect source in the metrics:\n%s", grep(m, "received_total"))
	}

	// A body that is not an Events message: invalid_argument, naming it.
	resp, b = post(t, apptest.URL(a)+path, "application/json", []byte(`{"events":[{"nope":1}]}`), nil)
	var ce connectError
	if json.Unmarshal(b, &ce); resp.StatusCode != 400 || ce.Code != "invalid_argument" || !strings.Contains(ce.Message, "nope") {
		t.Fatalf("bad body: %s %s", resp.Status, b)
	}
}

func TestConnectBinaryAndGRPCClients(t *testing.T) {
	a := apptest.Start(t, nil)
	h2c := &http.Client{Transport: &http.Transport{Protocols: unencryptedHTTP2()}}
	for _, c := range []struct {
		name   string
		client *http.Client
		opts   []connect.ClientOption
	}{
		{"connect-proto", http.DefaultClient, nil},
		{"connect-json", http.DefaultClient, []connect.ClientOption{connect.WithProtoJSON()}},
		{"grpc-web", http.DefaultClient, []connect.ClientOption{connect.WithGRPCWeb()}},
		{"grpc-h2c", h2c, []connect.ClientOption{connect.WithGRPC()}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl := eventgrpcv1connect.NewEventServiceClient(c.client, apptest.URL(a), c.opts...)
			resp, err := cl.Dispatch(context.Background(), connect.NewRequest(events("bin", c.name)))
			if err != nil {
				t.Fatal(err)
			}
			if resp.Msg.Status != eventgrpcv1.Status_STATUS_OK || len(resp.Msg.Results) != 1 || resp.Msg.Results[0].EventId != c.name {
				t.Fatalf("response %v", resp.Msg)
			}
		})
	}
	// A raw binary Connect POST, as curl --data-binary would send it.
	b, _ := proto.Marshal(events("bin", "raw-proto"))
	resp, body := post(t, apptest.URL(a)+path, "application/proto", b, nil)
	var r eventgrpcv1.Response
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/proto" || proto.Unmarshal(body, &r) != nil || r.Accepted != 1 {
		t.Fatalf("%s %s: %v", resp.Status, resp.Header.Get("Content-Type"), &r)
	}
	stored(t, a, "bin", "connect-json,connect-proto,grpc-h2c,grpc-web,raw-proto")
}

func unencryptedHTTP2() *http.Protocols {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return p
}

// grpcWebFrame is one length-prefixed message: flag 0, big-endian length.
func grpcWebFrame(msg []byte) []byte {
	f := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(f[1:], uint32(len(msg)))
	return append(f, msg...)
}

// grpcWebAnswer splits a gRPC-Web response body into its message and its
// trailers; the status comes from the trailer frame, or from the headers
// of a trailers-only answer.
func grpcWebAnswer(t *testing.T, resp *http.Response, body []byte) (msg []byte, trailers http.Header) {
	t.Helper()
	trailers = http.Header{}
	for len(body) > 0 {
		if len(body) < 5 {
			t.Fatalf("short frame: %q", body)
		}
		flag, n := body[0], binary.BigEndian.Uint32(body[1:5])
		frame := body[5 : 5+n]
		body = body[5+n:]
		if flag&0x80 == 0 {
			msg = frame
			continue
		}
		for _, line := range strings.Split(strings.TrimSpace(string(frame)), "\r\n") {
			k, v, _ := strings.Cut(line, ":")
			trailers.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	if trailers.Get("grpc-status") == "" {
		for _, k := range []string{"Grpc-Status", "Grpc-Message", "Retry-After-Ms", "Retry-After"} {
			if v := resp.Header.Get(k); v != "" {
				trailers.Set(k, v)
			}
		}
	}
	return msg, trailers
}

func TestGRPCWebBinaryFraming(t *testing.T) {
	a := apptest.Start(t, nil)
	b, _ := proto.Marshal(events("gw", "gw-1", "gw-2"))
	for _, ctype := range []string{"application/grpc-web+proto", "application/grpc-web"} {
		resp, body := post(t, apptest.URL(a)+path, ctype, grpcWebFrame(b), map[string]string{"X-Grpc-Web": "1", "X-User-Agent": "test"})
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ctype {
			t.Fatalf("%s: %s %s", ctype, resp.Status, resp.Header.Get("Content-Type"))
		}
		msg, tr := grpcWebAnswer(t, resp, body)
		if tr.Get("grpc-status") != "0" {
			t.Fatalf("%s: trailers %v", ctype, tr)
		}
		var r eventgrpcv1.Response
		if err := proto.Unmarshal(msg, &r); err != nil || r.Accepted != 2 || r.Results[1].EventId != "gw-2" || !r.Results[1].Accepted {
			t.Fatalf("%s: %v %v", ctype, &r, err)
		}
	}
	stored(t, a, "gw", "gw-1,gw-2")
}

func TestCORS(t *testing.T) {
	const allowed = "https://app.example.com"
	a := apptest.Start(t, map[string]string{"CORS_ALLOWED_ORIGINS": allowed + ", http://localhost:5173"})
	// As a browser sends them: lowercase, sorted (Fetch standard).
	reqHeaders := "authorization,connect-protocol-version,connect-timeout-ms,content-type,grpc-timeout,x-client-id,x-grpc-web,x-signature,x-timestamp,x-user-agent"
	preflight := func(url, origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, url, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", reqHeaders)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := preflight(apptest.URL(a)+path, allowed)
	h := resp.Header
	if resp.StatusCode/100 != 2 || h.Get("Access-Control-Allow-Origin") != allowed || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("preflight from %s: %s %v", allowed, resp.Status, h)
	}
	for _, want := range strings.Split(reqHeaders, ",") {
		if !strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), want) {
			t.Errorf("Access-Control-Allow-Headers %q lacks %s", h.Get("Access-Control-Allow-Headers"), want)
		}
	}
	if h.Get("Access-Control-Max-Age") == "" || !strings.Contains(h.Get("Vary"), "Origin") {
		t.Errorf("preflight headers %v", h)
	}
	for _, other := range []string{"https://evil.example.com", "https://app.example.com.evil.com", "null"} {
		if resp := preflight(apptest.URL(a)+path, other); resp.Header.Get("Access-Control-Allow-Origin") != "" || resp.Header.Get("Access-Control-Allow-Headers") != "" {
			t.Errorf("preflight from %s allowed: %v", other, resp.Header)
		}
	}
	// The request itself: the origin is allowed and the headers a client
	// reads are exposed.
	resp, b := post(t, apptest.URL(a)+path, "application/json", []byte(`{"header":{"userId":"cors"},"events":[{"id":"cors-1","testEvent":{}}]}`), map[string]string{"Origin": allowed})
	exposed := strings.ToLower(resp.Header.Get("Access-Control-Expose-Headers"))
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != allowed {
		t.Fatalf("%s %v %s", resp.Status, resp.Header, b)
	}
	for _, want := range []string{"grpc-status", "grpc-message", "grpc-status-details-bin", "retry-after", "retry-after-ms"} {
		if !strings.Contains(exposed, want) {
			t.Errorf("Access-Control-Expose-Headers %q lacks %s", exposed, want)
		}
	}
	resp, _ = post(t, apptest.URL(a)+path, "application/json", []byte(`{"events":[]}`), map[string]string{"Origin": "https://evil.example.com"})
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("request from another origin allowed: %v", resp.Header)
	}
	// The other routes are untouched.
	if resp := preflight(apptest.URL(a)+"/v1/query", allowed); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("CORS on /v1/query: %v", resp.Header)
	}

	// Off by default: no CORS headers for anyone.
	b2 := apptest.Start(t, nil)
	if resp := preflight(apptest.URL(b2)+path, allowed); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("CORS without CORS_ALLOWED_ORIGINS: %v", resp.Header)
	}
}

func TestAPIKeyAuth(t *testing.T) {
	a := apptest.Start(t, map[string]string{"AUTH_MODE": "apikey", "AUTH_API_KEYS": "web:" + testKey})
	cl := eventgrpcv1connect.NewEventServiceClient(http.DefaultClient, apptest.URL(a))
	for _, c := range []struct {
		name, id, key string
		ok            bool
	}{{"none", "", "", false}, {"wrong", "web", "nope-nope-nope-nope", false}, {"unknown", "ios", testKey, false}, {"valid", "web", testKey, true}} {
		t.Run(c.name, func(t *testing.T) {
			req := connect.NewRequest(events("ak", "ak-"+c.name))
			if c.id != "" {
				req.Header().Set("X-Client-Id", c.id)
				req.Header().Set("Authorization", "Bearer "+c.key)
			}
			_, err := cl.Dispatch(context.Background(), req)
			if c.ok != (err == nil) || (!c.ok && connect.CodeOf(err) != connect.CodeUnauthenticated) {
				t.Fatalf("err = %v", err)
			}
			if err != nil && strings.Contains(err.Error(), testKey) {
				t.Fatal("the key is echoed back")
			}
		})
	}
	// gRPC-Web without credentials: a trailers-only unauthenticated answer.
	b, _ := proto.Marshal(events("ak", "ak-gw"))
	resp, body := post(t, apptest.URL(a)+path, "application/grpc-web+proto", grpcWebFrame(b), nil)
	if _, tr := grpcWebAnswer(t, resp, body); resp.StatusCode != 200 || tr.Get("grpc-status") != "16" || !strings.Contains(tr.Get("grpc-message"), "x-client-id") {
		t.Fatalf("grpc-web without credentials: %s %v", resp.Status, tr)
	}
	// Connect JSON without credentials: 401 and a Connect error body.
	resp, body = post(t, apptest.URL(a)+path, "application/json", []byte(`{"events":[]}`), nil)
	var ce connectError
	if json.Unmarshal(body, &ce); resp.StatusCode != 401 || ce.Code != "unauthenticated" {
		t.Fatalf("json without credentials: %s %s", resp.Status, body)
	}
	stored(t, a, "ak", "ak-valid")
}

// TestHMACSignsTheHTTPBody: over Connect and gRPC-Web the signature
// covers the HTTP body as sent (for gRPC-Web, the framed bytes).
func TestHMACSignsTheHTTPBody(t *testing.T) {
	a := apptest.Start(t, map[string]string{"AUTH_MODE": "hmac", "AUTH_API_KEYS": "web:" + testKey})
	send := func(ctype string, body []byte, signed []byte) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, apptest.URL(a)+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		auth.SignHTTP(req.Header, "web", []byte(testKey), time.Now(), signed)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	bin, _ := proto.Marshal(events("hm", "hm-proto"))
	js := []byte(`{"header":{"userId":"hm"},"events":[{"id":"hm-json","testEvent":{}}]}`)
	gwMsg, _ := proto.Marshal(events("hm", "hm-grpc-web"))
	gw := grpcWebFrame(gwMsg)
	if r := send("application/proto", bin, bin); r.StatusCode != 200 {
		t.Fatalf("signed proto: %s", r.Status)
	}
	if r := send("application/json", js, js); r.StatusCode != 200 {
		t.Fatalf("signed json: %s", r.Status)
	}
	if r := send("application/grpc-web+proto", gw, gw); r.StatusCode != 200 || r.Header.Get("Grpc-Status") == "16" {
		t.Fatalf("signed grpc-web: %s %v", r.Status, r.Header)
	}
	// Signing the message instead of the frame is refused.
	if r := send("application/grpc-web+proto", gw, gwMsg); r.Header.Get("Grpc-Status") != "16" {
		t.Fatalf("grpc-web signed without its frame prefix: %s %v", r.Status, r.Header)
	}
	tampered, _ := proto.Marshal(events("hm", "hm-tampered"))
	if r := send("application/proto", tampered, bin); r.StatusCode != 401 {
		t.Fatalf("tampered: %s", r.Status)
	}
	stored(t, a, "hm", "hm-grpc-web,hm-json,hm-proto")
}

func TestRateLimitRefusalCarriesTheHint(t *testing.T) {
	a := apptest.Start(t, map[string]string{"RATE_LIMIT_RPS": "0.5", "RATE_LIMIT_BURST": "1"})
	b, _ := proto.Marshal(events("rl", "rl-1"))
	if resp, body := post(t, apptest.URL(a)+path, "application/proto", b, nil); resp.StatusCode != 200 {
		t.Fatalf("first: %s %s", resp.Status, body)
	}
	resp, body := post(t, apptest.URL(a)+path, "application/proto", b, nil)
	var ce connectError
	json.Unmarshal(body, &ce)
	ms, _ := strconv.Atoi(resp.Header.Get("Retry-After-Ms"))
	if resp.StatusCode != 429 || ce.Code != "resource_exhausted" || ms < 1000 || ms > 2000 || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("second: %s %v %s", resp.Status, resp.Header, body)
	}
	// gRPC-Web gets the same code and hint.
	resp, body = post(t, apptest.URL(a)+path, "application/grpc-web+proto", grpcWebFrame(b), nil)
	if _, tr := grpcWebAnswer(t, resp, body); tr.Get("grpc-status") != "8" || tr.Get("retry-after-ms") == "" {
		t.Fatalf("grpc-web: %s %v", resp.Status, tr)
	}
	// The connect-go client sees the hint in the error's metadata.
	_, err := eventgrpcv1connect.NewEventServiceClient(http.DefaultClient, apptest.URL(a), connect.WithGRPCWeb()).
		Dispatch(context.Background(), connect.NewRequest(events("rl", "rl-2")))
	var cerr *connect.Error
	if !errors.As(err, &cerr) || cerr.Code() != connect.CodeResourceExhausted || cerr.Meta().Get("Retry-After-Ms") == "" {
		t.Fatalf("client error %v (meta %v)", err, metaOf(err))
	}
}

func metaOf(err error) http.Header {
	var cerr *connect.Error
	if errors.As(err, &cerr) {
		return cerr.Meta()
	}
	return nil
}

// TestOverloadIsResourceExhaustedWithHint: a full pipeline refuses with
// resource_exhausted and a retry hint; nothing else goes wrong.
func TestOverloadIsResourceExhaustedWithHint(t *testing.T) {
	a := apptest.Start(t, map[string]string{"EVENT_WORKER_POOL_SIZE": "1", "EVENT_BUFFERED_CHANNEL_SIZE": "1"})
	cl := eventgrpcv1connect.NewEventServiceClient(http.DefaultClient, apptest.URL(a))
	var (
		mu                    sync.Mutex
		ok, exhausted, noHint int
		other                 []error
		wg                    sync.WaitGroup
	)
	for g := range 32 {
		wg.Go(func() {
			ids := make([]string, 200)
			for i := range ids {
				ids[i] = fmt.Sprintf("ov-%d-%d", g, i)
			}
			_, err := cl.Dispatch(context.Background(), connect.NewRequest(events("ov", ids...)))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case connect.CodeOf(err) == connect.CodeResourceExhausted:
				exhausted++
				if metaOf(err).Get("Retry-After-Ms") == "" {
					noHint++
				}
			default:
				other = append(other, err)
			}
		})
	}
	wg.Wait()
	if exhausted == 0 || ok == 0 || noHint > 0 || len(other) > 0 {
		t.Fatalf("ok=%d resource_exhausted=%d (without hint %d) other=%v", ok, exhausted, noHint, other)
	}
	t.Logf("ok=%d resource_exhausted=%d", ok, exhausted)
	apptest.WaitRows(t, a, 20*time.Second, "SELECT count(*) FROM event WHERE user_id = 'ov'", strconv.Itoa(ok*200))
}

func TestBodyLimit(t *testing.T) {
	a := apptest.Start(t, map[string]string{"HTTP_MAX_BODY_BYTES": "2048", "MAX_EVENTS_PER_REQUEST": "3"})
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = fmt.Sprintf("big-%03d", i)
	}
	b, _ := proto.Marshal(events("big", ids...))
	resp, body := post(t, apptest.URL(a)+path, "application/proto", b, nil)
	var ce connectError
	json.Unmarshal(body, &ce)
	if resp.StatusCode != 429 || ce.Code != "resource_exhausted" || !strings.Contains(ce.Message, "HTTP_MAX_BODY_BYTES") || resp.Header.Get("Retry-After-Ms") != "" {
		t.Fatalf("over the limit: %s %v %s", resp.Status, resp.Header, body)
	}
	// Without Content-Length (chunked), the read is bounded too.
	req, _ := http.NewRequest(http.MethodPost, apptest.URL(a)+path, io.MultiReader(bytes.NewReader(b)))
	req.Header.Set("Content-Type", "application/proto")
	req.ContentLength = -1
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 429 {
		t.Fatalf("chunked over the limit: %s", r2.Status)
	}
	// MAX_EVENTS_PER_REQUEST: invalid_argument naming it.
	b, _ = proto.Marshal(events("big", ids[:4]...))
	resp, body = post(t, apptest.URL(a)+path, "application/proto", b, nil)
	json.Unmarshal(body, &ce)
	if resp.StatusCode != 400 || ce.Code != "invalid_argument" || !strings.Contains(ce.Message, "MAX_EVENTS_PER_REQUEST") {
		t.Fatalf("too many events: %s %s", resp.Status, body)
	}
}

func metrics(t *testing.T, a *app.App) string {
	t.Helper()
	resp, err := http.Get(apptest.URL(a) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
