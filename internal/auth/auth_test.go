package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthgrpc "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/clocktest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	clientA = "app-android"
	keyA    = "key-of-android-0123456789abcdef"
	clientB = "backend"
	keyB    = "key-of-backend-fedcba9876543210"
)

var keys = map[string]string{clientA: keyA, clientB: keyB}

// echo answers with the authenticated client id in Response.message.
type echo struct {
	eventgrpcv1.UnimplementedEventServiceServer
}

func (echo) Dispatch(ctx context.Context, req *eventgrpcv1.Events) (*eventgrpcv1.Response, error) {
	return &eventgrpcv1.Response{Message: ClientID(ctx), Accepted: int32(len(req.GetEvents()))}, nil
}

// harness runs one Authenticator in front of a real gRPC server and an
// HTTP server.
type harness struct {
	a      *Authenticator
	reg    *prometheus.Registry
	clk    *clocktest.Clock
	events eventgrpcv1.EventServiceClient
	health healthpb.HealthClient
	url    string
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{reg: prometheus.NewRegistry(), clk: clocktest.New(time.UnixMilli(1_750_000_000_000))}
	cfg.ClientLabels = true // these tests read the per-client counts; labels_test.go the default
	a, err := New(cfg, h.reg, h.clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	h.a = a

	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(a.UnaryInterceptor()))
	eventgrpcv1.RegisterEventServiceServer(srv, echo{})
	hs := healthgrpc.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	h.events = eventgrpcv1.NewEventServiceClient(conn)
	h.health = healthpb.NewHealthClient(conn)

	final := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"client": ClientID(r.Context()), "body": string(b)})
	})
	hsrv := httptest.NewServer(a.Middleware(http.MaxBytesHandler(final, 1<<20)))
	h.url = hsrv.URL
	t.Cleanup(func() {
		hsrv.Close()
		conn.Close()
		srv.Stop()
		hs.Shutdown()
		<-done
	})
	return h
}

func (h *harness) failures(reason string) float64 {
	return testutil.ToFloat64(h.a.m.failures.WithLabelValues(reason))
}

func (h *harness) successes(client string) float64 {
	return testutil.ToFloat64(h.a.m.successes.WithLabelValues(client))
}

var (
	reqA = &eventgrpcv1.Events{
		Header: &eventgrpcv1.Header{SessionId: "s1", UserId: "u1"},
		Events: []*eventgrpcv1.Event{
			{Id: "e1", Timestamp: "1750000000000", EventOf: &eventgrpcv1.Event_CustomEvent{CustomEvent: &eventgrpcv1.CustomEvent{
				Name: "PollVoted", Params: map[string]string{"z": "1", "a": "2", "m": "3", "b": "4"},
			}}},
		},
	}
	reqB = &eventgrpcv1.Events{Header: &eventgrpcv1.Header{SessionId: "s1", UserId: "u2"}}
	// HTTP bodies are opaque bytes to the middleware.
	bodyA = []byte(`{"events":[{"id":"e1"}]}`)
	bodyB = []byte(`{"events":[{"id":"e2"}]}`)
)

// hcase is one request: headers built from the bytes a signature covers,
// and the outcome.
type hcase struct {
	name   string
	hdr    func(h *harness, signed []byte) map[string][]string
	tamper bool   // send a different request than the one the headers were built for
	reason string // "" when the request must pass
	client string // the client id the handler must see
}

func one(kv ...string) map[string][]string {
	m := map[string][]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = append(m[kv[i]], kv[i+1])
	}
	return m
}

func signed(id, secret string, ts time.Time, body []byte) map[string][]string {
	return one(HeaderClientID, id, HeaderTimestamp, Timestamp(ts), HeaderSignature, Sign([]byte(secret), ts, body))
}

func apiKeyCases() []hcase {
	return []hcase{
		{name: "no credentials", hdr: func(*harness, []byte) map[string][]string { return nil }, reason: ReasonMissing},
		{name: "client id without key", hdr: func(*harness, []byte) map[string][]string { return one(HeaderClientID, clientA) }, reason: ReasonMissing},
		{name: "key without client id", hdr: func(*harness, []byte) map[string][]string { return one(HeaderAuthorization, "Bearer "+keyA) }, reason: ReasonMissing},
		{name: "unknown client", hdr: func(*harness, []byte) map[string][]string {
			return one(HeaderClientID, "stranger", HeaderAuthorization, "Bearer "+keyA)
		}, reason: ReasonUnknownClient},
		{name: "wrong key", hdr: func(*harness, []byte) map[string][]string {
			return one(HeaderClientID, clientA, HeaderAuthorization, "Bearer "+keyB)
		}, reason: ReasonBadKey},
		{name: "key prefix", hdr: func(*harness, []byte) map[string][]string {
			return one(HeaderClientID, clientA, HeaderAuthorization, "Bearer "+keyA[:len(keyA)-1])
		}, reason: ReasonBadKey},
		{name: "basic scheme", hdr: func(*harness, []byte) map[string][]string {
			return one(HeaderClientID, clientA, HeaderAuthorization, "Basic "+keyA)
		}, reason: ReasonMalformed},
		{name: "no scheme", hdr: func(*harness, []byte) map[string][]string {
			return one(HeaderClientID, clientA, HeaderAuthorization, keyA)
		}, reason: ReasonMalformed},
		{name: "client id twice", hdr: func(*harness, []byte) map[string][]string {
			return one(HeaderClientID, clientA, HeaderClientID, clientB, HeaderAuthorization, "Bearer "+keyA)
		}, reason: ReasonMalformed},
		{name: "valid key", hdr: func(*harness, []byte) map[string][]string {
			return one(HeaderClientID, clientA, HeaderAuthorization, "Bearer "+keyA)
		}, client: clientA},
		{name: "valid key, scheme in lower case", hdr: func(*harness, []byte) map[string][]string {
			return one(HeaderClientID, clientB, HeaderAuthorization, "bearer  "+keyB)
		}, client: clientB},
	}
}

func hmacCases() []hcase {
	return []hcase{
		{name: "no credentials", hdr: func(*harness, []byte) map[string][]string { return nil }, reason: ReasonMissing},
		{name: "no signature", hdr: func(h *harness, b []byte) map[string][]string {
			return one(HeaderClientID, clientA, HeaderTimestamp, Timestamp(h.clk.Now()))
		}, reason: ReasonMissing},
		{name: "no timestamp", hdr: func(h *harness, b []byte) map[string][]string {
			return one(HeaderClientID, clientA, HeaderSignature, Sign([]byte(keyA), h.clk.Now(), b))
		}, reason: ReasonMissing},
		{name: "timestamp in seconds with a fraction", hdr: func(h *harness, b []byte) map[string][]string {
			m := signed(clientA, keyA, h.clk.Now(), b)
			m[HeaderTimestamp] = []string{"1750000000.5"}
			return m
		}, reason: ReasonMalformed},
		{name: "signature not hex", hdr: func(h *harness, b []byte) map[string][]string {
			m := signed(clientA, keyA, h.clk.Now(), b)
			m[HeaderSignature] = []string{strings.Repeat("zz", 32)}
			return m
		}, reason: ReasonMalformed},
		{name: "unknown client", hdr: func(h *harness, b []byte) map[string][]string {
			return signed("stranger", keyA, h.clk.Now(), b)
		}, reason: ReasonUnknownClient},
		{name: "signed with another client's secret", hdr: func(h *harness, b []byte) map[string][]string {
			return signed(clientA, keyB, h.clk.Now(), b)
		}, reason: ReasonBadSignature},
		{name: "body tampered", hdr: func(h *harness, b []byte) map[string][]string {
			return signed(clientA, keyA, h.clk.Now(), b)
		}, tamper: true, reason: ReasonBadSignature},
		{name: "timestamp changed after signing", hdr: func(h *harness, b []byte) map[string][]string {
			m := signed(clientA, keyA, h.clk.Now(), b)
			m[HeaderTimestamp] = []string{Timestamp(h.clk.Now().Add(time.Millisecond))}
			return m
		}, reason: ReasonBadSignature},
		{name: "timestamp too old", hdr: func(h *harness, b []byte) map[string][]string {
			return signed(clientA, keyA, h.clk.Now().Add(-5*time.Minute-time.Second), b)
		}, reason: ReasonSkew},
		{name: "timestamp too far ahead", hdr: func(h *harness, b []byte) map[string][]string {
			return signed(clientA, keyA, h.clk.Now().Add(5*time.Minute+time.Second), b)
		}, reason: ReasonSkew},
		{name: "valid, timestamp 4m old", hdr: func(h *harness, b []byte) map[string][]string {
			return signed(clientB, keyB, h.clk.Now().Add(-4*time.Minute), b)
		}, client: clientB},
		{name: "valid", hdr: func(h *harness, b []byte) map[string][]string {
			return signed(clientA, keyA, h.clk.Now(), b)
		}, client: clientA},
	}
}

// call sends one request over gRPC or HTTP and returns the client id the
// handler saw, or the failure message.
type transport struct {
	name string
	// signed is the byte form a signature covers; send sends the original
	// or, when tampered, the other request.
	signed []byte
	send   func(t *testing.T, h *harness, hdr map[string][]string, tamper bool) (client, errMsg string, code int)
}

func transports(t *testing.T) []transport {
	signedA, err := proto.MarshalOptions{Deterministic: true}.Marshal(reqA)
	if err != nil {
		t.Fatal(err)
	}
	return []transport{
		{name: "grpc", signed: signedA, send: func(t *testing.T, h *harness, hdr map[string][]string, tamper bool) (string, string, int) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			ctx = metadata.NewOutgoingContext(ctx, metadata.MD(hdr))
			req := reqA
			if tamper {
				req = reqB
			}
			resp, err := h.events.Dispatch(ctx, req)
			if err != nil {
				st := status.Convert(err)
				return "", st.Message(), int(st.Code())
			}
			return resp.GetMessage(), "", int(codes.OK)
		}},
		{name: "http", signed: bodyA, send: func(t *testing.T, h *harness, hdr map[string][]string, tamper bool) (string, string, int) {
			body := bodyA
			if tamper {
				body = bodyB
			}
			req, err := http.NewRequest(http.MethodPost, h.url+"/v1/events", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			for k, vs := range hdr {
				for _, v := range vs {
					req.Header.Add(k, v)
				}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out map[string]string
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				t.Fatalf("status %d: undecodable body: %v", resp.StatusCode, err)
			}
			if resp.StatusCode == http.StatusOK && out["body"] != string(body) {
				t.Fatalf("handler saw body %q, want %q", out["body"], body)
			}
			return out["client"], out["error"], resp.StatusCode
		}},
	}
}

func runCases(t *testing.T, mode string, cases []hcase) {
	for _, tr := range transports(t) {
		t.Run(tr.name, func(t *testing.T) {
			h := newHarness(t, Config{Mode: mode, Keys: keys})
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					before := h.failures(c.reason)
					okBefore := h.successes(c.client)
					client, msg, code := tr.send(t, h, c.hdr(h, tr.signed), c.tamper)
					if c.reason == "" {
						if msg != "" || client != c.client {
							t.Fatalf("want client %q authenticated, got client %q, code %d, error %q", c.client, client, code, msg)
						}
						if got := h.successes(c.client) - okBefore; got != 1 {
							t.Fatalf("successes{client=%s} grew by %v, want 1", c.client, got)
						}
						return
					}
					wantCode := int(codes.Unauthenticated)
					if tr.name == "http" {
						wantCode = http.StatusUnauthorized
					}
					if code != wantCode || msg == "" || client != "" {
						t.Fatalf("want refusal %s with code %d, got code %d, client %q, error %q", c.reason, wantCode, code, client, msg)
					}
					if got := h.failures(c.reason) - before; got != 1 {
						t.Fatalf("failures{reason=%s} grew by %v, want 1 (error %q)", c.reason, got, msg)
					}
					for _, k := range []string{keyA, keyB, keyA[:12], keyB[:12]} {
						if strings.Contains(msg, k) {
							t.Fatalf("error %q contains key material", msg)
						}
					}
				})
			}
		})
	}
}

func TestAPIKey(t *testing.T) { runCases(t, ModeAPIKey, apiKeyCases()) }

func TestHMAC(t *testing.T) { runCases(t, ModeHMAC, hmacCases()) }

// TestHMACReplay sends one signed request twice inside the skew window:
// the second is refused; signed anew, it passes; once the window is over,
// the same old request fails the skew check instead.
func TestHMACReplay(t *testing.T) {
	for _, tr := range transports(t) {
		t.Run(tr.name, func(t *testing.T) {
			h := newHarness(t, Config{Mode: ModeHMAC, Keys: keys})
			hdr := signed(clientA, keyA, h.clk.Now(), tr.signed)
			if client, msg, _ := tr.send(t, h, hdr, false); client != clientA {
				t.Fatalf("first send refused: %q", msg)
			}
			h.clk.Add(time.Minute)
			if _, msg, _ := tr.send(t, h, hdr, false); h.failures(ReasonReplay) != 1 {
				t.Fatalf("second send: want a replay refusal, got error %q, replays %v", msg, h.failures(ReasonReplay))
			}
			fresh := signed(clientA, keyA, h.clk.Now(), tr.signed)
			if client, msg, _ := tr.send(t, h, fresh, false); client != clientA {
				t.Fatalf("re-signed send refused: %q", msg)
			}
			h.clk.Add(5 * time.Minute)
			if _, _, _ = tr.send(t, h, hdr, false); h.failures(ReasonSkew) != 1 {
				t.Fatalf("old request after the window: want a skew refusal")
			}
		})
	}
}

func TestReplayOff(t *testing.T) {
	h := newHarness(t, Config{Mode: ModeHMAC, Keys: keys, ReplayCache: -1})
	tr := transports(t)[1]
	hdr := signed(clientA, keyA, h.clk.Now(), tr.signed)
	for i := range 2 {
		if client, msg, _ := tr.send(t, h, hdr, false); client != clientA {
			t.Fatalf("send %d refused with replay detection off: %q", i, msg)
		}
	}
}

func TestHealthStaysOpen(t *testing.T) {
	h := newHarness(t, Config{Mode: ModeAPIKey, Keys: keys})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := h.health.Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("health check without credentials: %v", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v", resp.GetStatus())
	}
}

func TestModeOffPassesThrough(t *testing.T) {
	h := newHarness(t, Config{Mode: ModeOff})
	for _, tr := range transports(t) {
		client, msg, _ := tr.send(t, h, nil, false)
		if msg != "" || client != "" {
			t.Fatalf("%s: mode off: client %q, error %q", tr.name, client, msg)
		}
	}
}

func TestHMACBodyTooLarge(t *testing.T) {
	reg := prometheus.NewRegistry()
	clk := clocktest.New(time.Now())
	a, err := New(Config{Mode: ModeHMAC, Keys: keys, MaxBodyBytes: 64}, reg, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	called := false
	h := a.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	for _, n := range []int{64, 65} {
		body := bytes.Repeat([]byte("x"), n)
		req := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(body))
		SignHTTP(req.Header, clientA, []byte(keyA), clk.Now(), body)
		rec := httptest.NewRecorder()
		called = false
		h.ServeHTTP(rec, req)
		want := http.StatusOK
		if n > 64 {
			want = http.StatusRequestEntityTooLarge
		}
		if rec.Code != want || called != (n <= 64) {
			t.Fatalf("%d bytes: status %d, handler called %v; want %d", n, rec.Code, called, want)
		}
	}
	if got := testutil.ToFloat64(a.m.failures.WithLabelValues(ReasonTooLarge)); got != 1 {
		t.Fatalf("too_large = %v, want 1", got)
	}
}

func TestSignGRPCMatchesServer(t *testing.T) {
	ts := time.UnixMilli(1_750_000_000_123)
	md, err := SignGRPC([]byte(keyA), ts, reqA)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(reqA)
	if got, want := md.Get(HeaderSignature)[0], Sign([]byte(keyA), ts, b); got != want {
		t.Fatalf("SignGRPC signature %s, want %s", got, want)
	}
	if got := md.Get(HeaderTimestamp)[0]; got != "1750000000123" {
		t.Fatalf("timestamp %q, want unix milliseconds", got)
	}
	// A known answer, so a change of the signed form is noticed.
	if got := Sign([]byte("secret"), time.UnixMilli(1000), []byte("body")); got != knownSig {
		t.Fatalf("Sign = %s, want %s", got, knownSig)
	}
}

// knownSig is hex(HMAC-SHA256("secret", "1000.body")), computed with
// `printf %s 1000.body | openssl dgst -sha256 -hmac secret`.
const knownSig = "b758bf26aabb35e5311bc10fd17ab6ad0881e9717e7d5fa7e233f3cea6868b45"

func TestNewRejectsBadConfig(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
	}{
		{"unknown mode", Config{Mode: "basic", Keys: keys}},
		{"apikey without keys", Config{Mode: ModeAPIKey}},
		{"short key", Config{Mode: ModeHMAC, Keys: map[string]string{"a": "s3cr3t"}}},
		{"bad client id", Config{Mode: ModeAPIKey, Keys: map[string]string{"a b": keyA}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.cfg, nil, nil)
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), keyA) || strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("error %q contains key material", err)
			}
		})
	}
}

func TestReplayCacheBounded(t *testing.T) {
	evicted := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
	c := newReplayCache(3, evicted)
	k := func(i byte) [16]byte { return [16]byte{i} }
	for i := byte(1); i <= 3; i++ {
		if !c.add(k(i), 100, 0) {
			t.Fatalf("fresh key %d refused", i)
		}
	}
	if c.add(k(2), 100, 10) {
		t.Fatal("repeat inside its window accepted")
	}
	if !c.add(k(4), 100, 10) || testutil.ToFloat64(evicted) != 1 || c.len() != 3 {
		t.Fatalf("full cache: want the oldest dropped and counted; len %d, evicted %v", c.len(), testutil.ToFloat64(evicted))
	}
	if !c.add(k(1), 100, 10) {
		t.Fatal("the evicted key is still refused")
	}
	// Expired entries leave on the next add.
	if !c.add(k(2), 300, 100) || c.len() != 1 {
		t.Fatalf("after expiry: len %d, want 1", c.len())
	}
}
