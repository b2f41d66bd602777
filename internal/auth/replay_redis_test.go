package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
)

// sharedPrefix is a Redis key prefix of the test's own, removed at its end.
func sharedPrefix(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "eventgrpc:test:replay:" + hex.EncodeToString(b) + ":"
	admin := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := admin.Ping(ctx).Err(); err != nil {
		admin.Close()
		t.Fatalf("redis at 127.0.0.1:6379 is needed by this test and does not answer: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		keys, err := admin.Keys(ctx, prefix+"*").Result()
		if err == nil && len(keys) > 0 {
			err = admin.Del(ctx, keys...).Err()
		}
		if err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return prefix
}

func hmacInstance(t *testing.T, cfg Config) (*Authenticator, *prometheus.Registry, http.Handler) {
	t.Helper()
	reg := prometheus.NewRegistry()
	a, err := New(cfg, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Error(err)
		}
	})
	return a, reg, a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
}

func postSigned(h http.Handler, hdr http.Header, body string) int {
	req := httptest.NewRequest(http.MethodPost, "/v1/events", strings.NewReader(body))
	req.Header = hdr.Clone()
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

// replayRefused signs body once and sends it to first, which must accept
// it, then again to second, which must refuse it 401 (a replay); what
// names the case.
func replayRefused(t *testing.T, first, second http.Handler, body, what string) {
	t.Helper()
	hdr := http.Header{}
	SignHTTP(hdr, clientA, []byte(keyA), time.Now(), []byte(body))
	if code := postSigned(first, hdr, body); code != http.StatusOK {
		t.Fatalf("%s: first send: %d", what, code)
	}
	if code := postSigned(second, hdr, body); code != http.StatusUnauthorized {
		t.Fatalf("%s: replay: %d, want 401", what, code)
	}
}

// One captured signed request cannot be replayed once per instance: two
// instances sharing the replay cache through the real Redis (REDIS_URL)
// refuse on the second what the first accepted. On e066805 each instance
// had only its own cache, so the second accepted it.
func TestReplaySharedThroughRedis(t *testing.T) {
	cfg := Config{Mode: ModeHMAC, Keys: keys, RedisURL: "redis://127.0.0.1:6379/0", RedisKeyPrefix: sharedPrefix(t)}
	_, _, one := hmacInstance(t, cfg)
	second, _, two := hmacInstance(t, cfg)
	body := `{"events":[{"id":"r-1","launchEvent":{}}]}`
	replayRefused(t, one, two, body, "the same request on the second instance")
	if got := testutil.ToFloat64(second.m.failures.WithLabelValues(ReasonReplay)); got != 1 {
		t.Fatalf("replay refusals on the second instance: %v", got)
	}
	fresh := http.Header{}
	SignHTTP(fresh, clientA, []byte(keyA), time.Now().Add(time.Millisecond), []byte(body))
	if code := postSigned(two, fresh, body); code != http.StatusOK {
		t.Fatalf("a freshly signed request: %d", code)
	}
}

// With Redis unreachable the instance's own cache still refuses a replay
// and every Redis failure is counted; authentication goes on.
func TestReplayRedisDownFallsBackToLocal(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	a, _, h := hmacInstance(t, Config{Mode: ModeHMAC, Keys: keys, RedisAddrs: []string{addr}})
	body := `{}`
	replayRefused(t, h, h, body, "with Redis down")
	if got := testutil.ToFloat64(a.m.replayRedisErrors); got < 1 {
		t.Fatalf("redis errors counted %v", got)
	}
}
