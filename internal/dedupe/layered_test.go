package dedupe

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/event-grpc/event-grpc/internal/clocktest"
	"github.com/event-grpc/event-grpc/internal/config/configtest"
)

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newLayered(t *testing.T, cfg Config, log *slog.Logger, now func() time.Time) *Layered {
	t.Helper()
	cfg = cfg.withDefaults()
	local, err := NewLocal(cfg.LocalMaxItems, cfg.Window, cfg.PendingTTL)
	if err != nil {
		t.Fatal(err)
	}
	var r *Redis
	if len(cfg.RedisAddrs) > 0 {
		if r, err = NewRedis(cfg); err != nil {
			t.Fatal(err)
		}
	}
	l, err := NewLayered(local, r, cfg, log, prometheus.NewRegistry(), now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// TestLayeredSharedWindow: two instances, each with its own local window,
// share Redis.
func TestLayeredSharedWindow(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t, time.Minute, 20*time.Second)
	a := newLayered(t, cfg, nil, nil)
	b := newLayered(t, cfg, nil, nil)

	expect(t, a, []string{"e1", "e2"}, New, New)
	expect(t, b, []string{"e1"}, InFlight)
	a.Commit(ctx, []string{"e1"}, nil)
	a.Forget(ctx, []string{"e2"})
	expect(t, b, []string{"e1", "e2"}, Done, New) // e1 from Redis, now in b's local window
	expect(t, a, []string{"e2"}, InFlight)

	// b remembers e1 locally: with Redis emptied, b still answers Done.
	if err := b.redis.Forget(ctx, []string{"e1"}); err != nil {
		t.Fatal(err)
	}
	expect(t, b, []string{"e1"}, Done)
	if got := testutil.ToFloat64(b.m.hitsDone); got != 2 {
		t.Fatalf("b hits{done} = %v, want 2", got)
	}
	if got := testutil.ToFloat64(b.m.checked); got != 4 {
		t.Fatalf("b checked = %v, want 4", got)
	}
	if got := testutil.ToFloat64(b.m.up); got != 1 {
		t.Fatalf("redis_up = %v", got)
	}
}

// TestLayeredRedisDown points Layered at a closed port: it keeps answering
// from the local window, counts the errors, backs off, and logs once per
// interval.
func TestLayeredRedisDown(t *testing.T) {
	ctx := context.Background()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	clk := clocktest.New(time.Now())
	cfg := Config{Window: time.Minute, PendingTTL: 30 * time.Second, LocalMaxItems: 1000,
		RedisAddrs: []string{"127.0.0.1:1"}, RedisTimeout: 200 * time.Millisecond, KeyPrefix: "eventgrpc:test:down:",
		ErrorLogInterval: time.Minute}
	l := newLayered(t, cfg, log, clk.Now)

	errorsTotal := func() float64 {
		n := 0.0
		for _, op := range []string{"claim", "commit", "forget"} {
			n += testutil.ToFloat64(l.m.redisErrors.WithLabelValues(op))
		}
		return n
	}
	expect(t, l, []string{"a", "b"}, New, New)
	if got := errorsTotal(); got != 1 {
		t.Fatalf("redis errors %v after the first claim, want 1", got)
	}
	// Within the backoff Redis is not tried.
	expect(t, l, []string{"a", "c"}, InFlight, New)
	if got := errorsTotal(); got != 1 || testutil.ToFloat64(l.m.redisSkipped) != 1 {
		t.Fatalf("within the backoff: errors %v, skipped %v", got, testutil.ToFloat64(l.m.redisSkipped))
	}
	if err := l.Commit(ctx, []string{"a"}, nil); err != nil {
		t.Fatalf("commit with redis down: %v", err)
	}
	if err := l.Forget(ctx, []string{"b"}); err != nil {
		t.Fatalf("forget with redis down: %v", err)
	}
	expect(t, l, []string{"a", "b"}, Done, New)

	// After the backoff Redis is tried again, fails again, and the backoff
	// doubles; the second failure is not logged within the interval.
	clk.Add(1100 * time.Millisecond)
	expect(t, l, []string{"d"}, New)
	if got := errorsTotal(); got != 2 {
		t.Fatalf("redis errors %v after the backoff, want 2", got)
	}
	clk.Add(1100 * time.Millisecond) // backoff is now 2s: still skipped
	expect(t, l, []string{"e"}, New)
	if got := errorsTotal(); got != 2 {
		t.Fatalf("redis errors %v within the doubled backoff, want 2", got)
	}
	if n := strings.Count(logs.String(), "redis failed"); n != 1 {
		t.Fatalf("%d log lines about redis, want 1:\n%s", n, logs.String())
	}
	if got := testutil.ToFloat64(l.m.up); got != 0 {
		t.Fatalf("redis_up = %v, want 0", got)
	}
	clk.Add(2 * time.Minute)
	expect(t, l, []string{"f"}, New)
	if n := strings.Count(logs.String(), "redis failed"); n != 2 || !strings.Contains(logs.String(), "errors_not_logged=1") {
		t.Fatalf("after the interval: want a second line counting the unlogged error:\n%s", logs.String())
	}
}

// proxy forwards TCP to Redis until stopped, to take Redis away and bring
// it back on the same address.
type proxy struct {
	t     *testing.T
	addr  string
	mu    sync.Mutex
	lis   net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startProxy(t *testing.T) *proxy {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, addr: lis.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(lis)
	t.Cleanup(p.stop)
	return p
}

func (p *proxy) serve(lis net.Listener) {
	p.mu.Lock()
	p.lis = lis
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", redisAddr)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[up] = struct{}{}, struct{}{}
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); io.Copy(up, c); up.Close() }()
			go func() { defer p.wg.Done(); io.Copy(c, up); c.Close() }()
		}
	}()
}

func (p *proxy) stop() {
	p.mu.Lock()
	if p.lis != nil {
		p.lis.Close()
		p.lis = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]struct{}{}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *proxy) restart() {
	lis, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("listen again on %s: %v", p.addr, err)
	}
	p.serve(lis)
}

// TestLayeredRedisComesBack: the window is shared again once Redis answers.
func TestLayeredRedisComesBack(t *testing.T) {
	ctx := context.Background()
	p := startProxy(t)
	cfg := testConfig(t, time.Minute, 20*time.Second)
	other := newRedis(t, cfg) // another instance, straight to Redis
	cfg.RedisAddrs = []string{p.addr}
	cfg.RedisTimeout = 200 * time.Millisecond
	clk := clocktest.New(time.Now())
	logs := &syncBuffer{}
	l := newLayered(t, cfg, slog.New(slog.NewTextHandler(logs, nil)), clk.Now)

	expect(t, l, []string{"a"}, New)
	p.stop()
	expect(t, l, []string{"b"}, New)
	if testutil.ToFloat64(l.m.redisErrors.WithLabelValues("claim")) < 1 {
		t.Fatal("no redis error counted with the proxy stopped")
	}
	p.restart()
	clk.Add(2 * time.Second)
	if err := other.Commit(ctx, []string{"c"}, nil); err != nil {
		t.Fatal(err)
	}
	expect(t, l, []string{"c"}, Done)
	if testutil.ToFloat64(l.m.up) != 1 || !strings.Contains(logs.String(), "redis answers again") {
		t.Fatalf("redis back: up %v, logs:\n%s", testutil.ToFloat64(l.m.up), logs.String())
	}
	// "b" was claimed while Redis was away: only the local window knows it.
	expect(t, other, []string{"a", "b"}, InFlight, New)
}

// TestForgetAfterCancel: the pipeline forgets after the client gave up;
// the release must still reach Redis.
func TestForgetAfterCancel(t *testing.T) {
	cfg := testConfig(t, time.Minute, 20*time.Second)
	l := newLayered(t, cfg, nil, nil)
	other := newRedis(t, cfg)
	expect(t, l, []string{"x"}, New)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Forget(ctx, []string{"x"}); err != nil {
		t.Fatal(err)
	}
	expect(t, other, []string{"x"}, New)
	if testutil.ToFloat64(l.m.redisErrors.WithLabelValues("forget")) != 0 {
		t.Fatal("forget with a cancelled context failed in redis")
	}
}

func TestOpen(t *testing.T) {
	st, err := Open(Config{}, nil, nil)
	if err != nil || st != nil {
		t.Fatalf("window 0: %v, %v; want a nil store", st, err)
	}
	reg := prometheus.NewRegistry()
	cfg := testConfig(t, time.Minute, time.Second)
	st, err = Open(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	// A second store on one registry counts into the first one's series
	// (telemetry.Register).
	again, err := Open(cfg, nil, reg)
	if err != nil {
		t.Fatalf("a second store on one registry: %v", err)
	}
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
	// Open with Redis unreachable still serves.
	cfg.RedisAddrs = []string{"127.0.0.1:1"}
	st, err = Open(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatalf("open with redis down: %v", err)
	}
	defer st.Close()
	if err := st.Start(context.Background()); err != nil {
		t.Fatalf("start with redis down: %v", err)
	}
	expect(t, st, []string{"q", "q"}, New, InFlight)
	if got := testutil.ToFloat64(st.(*Layered).m.redisErrors.WithLabelValues("ping")); got != 1 {
		t.Fatalf("ping errors %v, want 1", got)
	}
}

func TestLocalBounded(t *testing.T) {
	l, err := NewLocal(100, time.Minute, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	all := ids("b", 5000)
	claim(t, l, all...)
	if err := l.Commit(context.Background(), all, nil); err != nil {
		t.Fatal(err)
	}
	held := l.held()
	if held > 100 || held == 0 {
		t.Fatalf("%d of 5000 ids held with a bound of 100", held)
	}
	// The map of recent claims empties itself once its entries expire.
	l.mu.Lock()
	l.sweepAt = 0
	l.sweep(time.Now().Add(2 * time.Minute))
	left := len(l.recent)
	l.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d expired entries left in the map", left)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	expect(t, l, []string{"after-close"}, New)
	if l.Commit(context.Background(), []string{"x"}, nil) != nil || l.Forget(context.Background(), []string{"x"}) != nil {
		t.Fatal("calls after close failed")
	}
}

func TestConfigFromEnv(t *testing.T) {
	const password = "hunter2-redis-password"
	cases := []struct {
		name    string
		vars    map[string]string
		check   func(t *testing.T, c Config)
		wantErr string
	}{
		{name: "defaults", check: func(t *testing.T, c Config) {
			if c.Window != 10*time.Minute || c.LocalMaxItems != DefaultLocalMaxItems || len(c.RedisAddrs) != 0 || !c.Enabled() ||
				c.PendingTTL != DefaultPendingTTL || c.KeyPrefix != "eventgrpc:dedupe:" {
				t.Fatalf("%+v", c)
			}
		}},
		{name: "disabled", vars: map[string]string{"DEDUPE_WINDOW": "0"}, check: func(t *testing.T, c Config) {
			if c.Enabled() {
				t.Fatal("enabled with window 0")
			}
		}},
		{name: "everything", vars: map[string]string{"DEDUPE_WINDOW": "2m", "DEDUPE_LOCAL_MAX_ITEMS": "1e5",
			"REDIS_CLUSTER_ADDRESSES": "r1:6379, r2:6380,", "REDIS_CLUSTER_PASSWORD": password, "DEDUPE_PENDING_TTL": "5m",
			"DEDUPE_REDIS_TIMEOUT": "100ms"},
			check: func(t *testing.T, c Config) {
				if c.Window != 2*time.Minute || c.LocalMaxItems != 100_000 || len(c.RedisAddrs) != 2 || c.RedisAddrs[1] != "r2:6380" ||
					c.RedisPassword != password || c.PendingTTL != 2*time.Minute || c.RedisTimeout != 100*time.Millisecond {
					t.Fatalf("%+v", c)
				}
			}},
		{name: "bad window", vars: map[string]string{"DEDUPE_WINDOW": "ten minutes", "REDIS_CLUSTER_PASSWORD": password}, wantErr: "DEDUPE_WINDOW"},
		{name: "negative window", vars: map[string]string{"DEDUPE_WINDOW": "-1m"}, wantErr: "DEDUPE_WINDOW"},
		{name: "bad max items", vars: map[string]string{"DEDUPE_LOCAL_MAX_ITEMS": "1.5"}, wantErr: "DEDUPE_LOCAL_MAX_ITEMS"},
		{name: "bad address", vars: map[string]string{"REDIS_CLUSTER_ADDRESSES": "redis", "REDIS_CLUSTER_PASSWORD": password}, wantErr: `REDIS_CLUSTER_ADDRESSES: "redis" is not host:port`},
		{name: "zero pending ttl", vars: map[string]string{"DEDUPE_PENDING_TTL": "0"}, wantErr: "DEDUPE_PENDING_TTL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := ConfigFromEnv(configtest.Env(c.vars))
			if err != nil && strings.Contains(err.Error(), password) {
				t.Fatalf("error %q contains the password", err)
			}
			if configtest.WantErr(t, err, c.wantErr) {
				return
			}
			c.check(t, cfg)
		})
	}
}
