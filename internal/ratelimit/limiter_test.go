package ratelimit

import (
	"context"
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

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/auth"
	"github.com/event-grpc/event-grpc/internal/clocktest"
	"github.com/event-grpc/event-grpc/internal/config/configtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newLimiter(t *testing.T, cfg Config) (*Limiter, *clocktest.Clock) {
	t.Helper()
	clk := clocktest.New(time.Unix(1_750_000_000, 0))
	cfg.ClientLabels = true // these tests read the per-client counts; labels_test.go the default
	l, err := New(cfg, prometheus.NewRegistry(), clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	return l, clk
}

func refused(l *Limiter, client string) float64 {
	return testutil.ToFloat64(l.m.refused.WithLabelValues(client))
}

func TestBucket(t *testing.T) {
	l, clk := newLimiter(t, Config{Default: Limit{RPS: 2, Burst: 3}})
	k := Key{IP: "10.0.0.1"}
	for i := range 3 {
		if d := l.Take(k); !d.OK {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	d := l.Take(k)
	if d.OK || d.RetryAfter != 500*time.Millisecond || d.Client != "other" {
		t.Fatalf("over the burst: %+v, want refused with 500ms", d)
	}
	clk.Add(200 * time.Millisecond)
	if d := l.Take(k); d.OK || d.RetryAfter != 300*time.Millisecond {
		t.Fatalf("after 200ms: %+v, want refused with 300ms", d)
	}
	clk.Add(300 * time.Millisecond)
	if d := l.Take(k); !d.OK {
		t.Fatalf("after the refill: %+v", d)
	}
	if d := l.Take(Key{IP: "10.0.0.2"}); !d.OK {
		t.Fatal("another IP shares the bucket")
	}
	if got := refused(l, "other"); got != 2 {
		t.Fatalf("refused{other} = %v, want 2", got)
	}
}

func TestKeys(t *testing.T) {
	cfg := Config{
		Default:   Limit{RPS: 1, Burst: 1},
		PerClient: map[string]Limit{"big": {RPS: 100, Burst: 5}, "free": {}},
	}
	cases := []struct {
		name    string
		keys    []Key // sent in turn
		wantOK  []bool
		label   string
		wantLen int
	}{
		{"authenticated id gets its own default bucket",
			[]Key{{AuthID: "a", IP: "1.1.1.1"}, {AuthID: "b", IP: "1.1.1.1"}, {AuthID: "a", IP: "2.2.2.2"}},
			[]bool{true, true, false}, "other", 2},
		{"listed client gets its limit",
			[]Key{{AuthID: "big"}, {AuthID: "big"}, {AuthID: "big"}, {AuthID: "big"}, {AuthID: "big"}, {AuthID: "big"}},
			[]bool{true, true, true, true, true, false}, "big", 1},
		{"listed client with rate 0 is unlimited",
			[]Key{{AuthID: "free"}, {AuthID: "free"}, {AuthID: "free"}},
			[]bool{true, true, true}, "free", 0},
		// On 470972f the header was trusted: both took "big"'s bucket.
		{"unauthenticated header naming a listed client is not trusted",
			[]Key{{HeaderID: "big", IP: "1.1.1.1"}, {HeaderID: "big", IP: "1.1.1.1"}, {HeaderID: "big", IP: "2.2.2.2"}},
			[]bool{true, false, true}, "other", 2},
		{"unauthenticated made-up header ids share the IP's bucket",
			[]Key{{HeaderID: "x1", IP: "1.1.1.1"}, {HeaderID: "x2", IP: "1.1.1.1"}},
			[]bool{true, false}, "other", 1},
		{"authenticated id wins over the header",
			[]Key{{AuthID: "a", HeaderID: "big"}, {AuthID: "a", HeaderID: "big"}},
			[]bool{true, false}, "other", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, _ := newLimiter(t, cfg)
			for i, k := range c.keys {
				d := l.Take(k)
				if d.OK != c.wantOK[i] {
					t.Fatalf("request %d (%+v): ok %v, want %v", i, k, d.OK, c.wantOK[i])
				}
				if d.Client != c.label {
					t.Fatalf("request %d: label %q, want %q", i, d.Client, c.label)
				}
			}
			if l.Len() != c.wantLen {
				t.Fatalf("%d buckets, want %d", l.Len(), c.wantLen)
			}
		})
	}
}

func TestDisabled(t *testing.T) {
	l, _ := newLimiter(t, Config{PerClient: map[string]Limit{"a": {}}})
	if l.Enabled() {
		t.Fatal("enabled without limits")
	}
	for range 1000 {
		if !l.Take(Key{IP: "1.1.1.1"}).OK {
			t.Fatal("refused while disabled")
		}
	}
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	if got := l.Middleware(h); got == nil {
		t.Fatal("nil handler")
	}
}

func TestIdleSweep(t *testing.T) {
	l, clk := newLimiter(t, Config{Default: Limit{RPS: 1, Burst: 2}, IdleTimeout: 10 * time.Minute})
	l.Take(Key{IP: "1.1.1.1"})
	l.Take(Key{IP: "2.2.2.2"})
	clk.Add(9 * time.Minute)
	l.Take(Key{IP: "2.2.2.2"})
	clk.Add(90 * time.Second) // 1.1.1.1 idle 10.5m, 2.2.2.2 idle 1.5m
	l.Take(Key{IP: "3.3.3.3"})
	if got := l.Len(); got != 2 {
		t.Fatalf("%d buckets after the sweep, want 2 (the idle one dropped)", got)
	}
	if got := testutil.ToFloat64(l.m.keys); got != 2 {
		t.Fatalf("keys gauge %v, want 2", got)
	}
}

// A slow bucket that has not refilled is kept past the idle time: dropping
// it would hand its sender a fresh burst.
func TestSweepKeepsUnrefilledBuckets(t *testing.T) {
	l, clk := newLimiter(t, Config{Default: Limit{RPS: 0.001, Burst: 2}, IdleTimeout: time.Minute})
	k := Key{IP: "1.1.1.1"}
	l.Take(k)
	l.Take(k)
	clk.Add(2 * time.Minute)
	l.Take(Key{IP: "2.2.2.2"}) // triggers the sweep
	if d := l.Take(k); d.OK {
		t.Fatal("the drained bucket was dropped and refilled")
	}
}

// A full table evicts its least recently used bucket rather than refusing
// a new sender. On 470972f the third sender was refused with 429.
func TestTableFull(t *testing.T) {
	l, _ := newLimiter(t, Config{Default: Limit{RPS: 1, Burst: 1}, MaxKeys: 2, IdleTimeout: time.Minute})
	l.Take(Key{IP: "1.1.1.1"})
	l.Take(Key{IP: "2.2.2.2"})
	l.Take(Key{IP: "1.1.1.1"}) // 2.2.2.2 is now the least recently used
	if d := l.Take(Key{IP: "3.3.3.3"}); !d.OK || d.TableFull {
		t.Fatalf("new key with a full table: %+v, want let through", d)
	}
	if l.Len() != 2 {
		t.Fatalf("%d buckets, want the bound of 2", l.Len())
	}
	if got := testutil.ToFloat64(l.m.tableFull); got != 1 {
		t.Fatalf("evictions = %v, want 1", got)
	}
	// 1.1.1.1 kept its (empty) bucket; 2.2.2.2 was evicted.
	if d := l.Take(Key{IP: "1.1.1.1"}); d.OK {
		t.Fatal("the recently used bucket was evicted")
	}
}

func TestConfigFromEnv(t *testing.T) {
	cases := []struct {
		name    string
		vars    map[string]string
		want    Config
		wantErr string
	}{
		{name: "unset limits nothing", want: Config{MaxKeys: DefaultMaxKeys, IdleTimeout: DefaultIdleTimeout, Default: Limit{Burst: 1}, PerClient: map[string]Limit{}}},
		{name: "rate with default burst", vars: map[string]string{"RATE_LIMIT_RPS": "2.5"},
			want: Config{Default: Limit{RPS: 2.5, Burst: 3}, MaxKeys: DefaultMaxKeys, IdleTimeout: DefaultIdleTimeout, PerClient: map[string]Limit{}}},
		{name: "everything", vars: map[string]string{
			"RATE_LIMIT_RPS": "100", "RATE_LIMIT_BURST": "200", "RATE_LIMIT_CLIENTS": "web:10:20, ios:0:0 ,batch:5",
			"RATE_LIMIT_MAX_KEYS": "50", "RATE_LIMIT_IDLE": "1m"},
			want: Config{Default: Limit{RPS: 100, Burst: 200}, MaxKeys: 50, IdleTimeout: time.Minute,
				PerClient: map[string]Limit{"web": {10, 20}, "ios": {0, 0}, "batch": {5, 5}}}},
		{name: "bad rate", vars: map[string]string{"RATE_LIMIT_RPS": "fast"}, wantErr: "RATE_LIMIT_RPS"},
		{name: "negative rate", vars: map[string]string{"RATE_LIMIT_RPS": "-1"}, wantErr: "RATE_LIMIT_RPS"},
		{name: "zero burst with a rate", vars: map[string]string{"RATE_LIMIT_RPS": "1", "RATE_LIMIT_BURST": "0"}, wantErr: "RATE_LIMIT_BURST"},
		{name: "bad client entry", vars: map[string]string{"RATE_LIMIT_CLIENTS": "web"}, wantErr: `RATE_LIMIT_CLIENTS: entry 1 ("web")`},
		{name: "bad client burst", vars: map[string]string{"RATE_LIMIT_CLIENTS": "web:1:x"}, wantErr: "RATE_LIMIT_CLIENTS"},
		{name: "client twice", vars: map[string]string{"RATE_LIMIT_CLIENTS": "web:1,web:2"}, wantErr: `client "web" is listed twice`},
		{name: "bad max keys", vars: map[string]string{"RATE_LIMIT_MAX_KEYS": "0"}, wantErr: "RATE_LIMIT_MAX_KEYS"},
		{name: "bad idle", vars: map[string]string{"RATE_LIMIT_IDLE": "soon"}, wantErr: "RATE_LIMIT_IDLE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ConfigFromEnv(configtest.Env(c.vars))
			if configtest.WantErr(t, err, c.wantErr) {
				return
			}
			if got.Default != c.want.Default || got.MaxKeys != c.want.MaxKeys || got.IdleTimeout != c.want.IdleTimeout || len(got.PerClient) != len(c.want.PerClient) {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
			for id, l := range c.want.PerClient {
				if got.PerClient[id] != l {
					t.Fatalf("client %s: %+v, want %+v", id, got.PerClient[id], l)
				}
			}
			if _, err := New(got, nil, nil); err != nil {
				t.Fatalf("New refuses it: %v", err)
			}
		})
	}
}

type echo struct {
	eventgrpcv1.UnimplementedEventServiceServer
}

func (echo) Dispatch(ctx context.Context, req *eventgrpcv1.Events) (*eventgrpcv1.Response, error) {
	return &eventgrpcv1.Response{}, nil
}

func TestGRPC(t *testing.T) {
	l, clk := newLimiter(t, Config{PerClient: map[string]Limit{"web": {RPS: 4, Burst: 1}}})
	// The authentication interceptor runs first and sets the client id.
	setID := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get("authenticated-as")) > 0 {
			ctx = auth.WithClientID(ctx, md.Get("authenticated-as")[0])
		}
		return h(ctx, req)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(setID, l.UnaryInterceptor()))
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
	defer func() { conn.Close(); srv.Stop(); hs.Shutdown(); <-done }()
	client := eventgrpcv1.NewEventServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authenticated-as", "web")

	if _, err := client.Dispatch(ctx, &eventgrpcv1.Events{}); err != nil {
		t.Fatalf("first call: %v", err)
	}
	var trailer metadata.MD
	_, err = client.Dispatch(ctx, &eventgrpcv1.Events{}, grpc.Trailer(&trailer))
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("second call: %v, want RESOURCE_EXHAUSTED", err)
	}
	if got := trailer.Get("retry-after-ms"); len(got) != 1 || got[0] != "250" {
		t.Fatalf("retry-after-ms trailer %v, want [250]", got)
	}
	if got := refused(l, "web"); got != 1 {
		t.Fatalf("refused{web} = %v", got)
	}
	for range 5 {
		if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatalf("health is limited: %v", err)
		}
	}
	clk.Add(250 * time.Millisecond)
	if _, err := client.Dispatch(ctx, &eventgrpcv1.Events{}); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
}

func TestHTTP(t *testing.T) {
	l, clk := newLimiter(t, Config{Default: Limit{RPS: 0.5, Burst: 2}})
	srv := httptest.NewServer(l.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{}`))
	})))
	defer srv.Close()
	post := func() *http.Response {
		t.Helper()
		resp, err := http.Post(srv.URL+"/v1/events", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for i := range 2 {
		if resp := post(); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
	}
	resp := post()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("over the limit: %d Retry-After %q, want 429 and 2", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	clk.Add(1500 * time.Millisecond)
	if resp := post(); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("0.5s before the token: %d Retry-After %q, want 429 and 1 (rounded up)", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	clk.Add(500 * time.Millisecond)
	if resp := post(); resp.StatusCode != http.StatusOK {
		t.Fatalf("after the wait: %d", resp.StatusCode)
	}
	if got, want := refused(l, "other"), 2.0; got != want {
		t.Fatalf("refused{other} = %v, want %v", got, want)
	}
}
