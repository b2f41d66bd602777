package dedupe

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestRedisSharedWindow runs two Redis dedupers, as two instances of the
// service would, on one Redis.
func TestRedisSharedWindow(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t, time.Minute, 20*time.Second)
	a, b := newRedis(t, cfg), newRedis(t, cfg)

	expect(t, a, []string{"e1", "e2"}, New, New)
	expect(t, b, []string{"e1", "e2", "e3"}, InFlight, InFlight, New)
	if err := a.Commit(ctx, []string{"e1"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := a.Forget(ctx, []string{"e2"}); err != nil {
		t.Fatal(err)
	}
	expect(t, b, []string{"e1", "e2"}, Done, New)
	expect(t, a, []string{"e2", "e3"}, InFlight, InFlight)

	// The keys carry the prefix, the value and the TTL of their state.
	admin := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer admin.Close()
	for _, c := range []struct {
		id, val  string
		ttl, min time.Duration
	}{{"e1", valueDone, time.Minute, 50 * time.Second}, {"e3", valuePending, 20 * time.Second, 10 * time.Second}} {
		key := cfg.KeyPrefix + c.id
		if !strings.HasPrefix(key, "eventgrpc:test:") {
			t.Fatalf("key %q", key)
		}
		v, err := admin.Get(ctx, key).Result()
		if err != nil || v != c.val {
			t.Fatalf("%s = %q, %v; want %q", key, v, err, c.val)
		}
		ttl, err := admin.PTTL(ctx, key).Result()
		if err != nil || ttl > c.ttl || ttl < c.min {
			t.Fatalf("%s TTL %v, want in (%v, %v]", key, ttl, c.min, c.ttl)
		}
	}
}

func TestRedisDown(t *testing.T) {
	cfg := testConfig(t, time.Minute, time.Second)
	cfg.RedisAddrs = []string{"127.0.0.1:1"}
	cfg.RedisTimeout = 200 * time.Millisecond
	r := newRedis(t, cfg)
	start := time.Now()
	if _, err := r.Claim(context.Background(), []string{"a"}, nil); err == nil {
		t.Fatal("claim against a closed port succeeded")
	}
	if err := r.Commit(context.Background(), []string{"a"}, nil); err == nil {
		t.Fatal("commit against a closed port succeeded")
	}
	if err := r.Forget(context.Background(), []string{"a"}); err == nil {
		t.Fatal("forget against a closed port succeeded")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("three failing calls took %v; the timeouts are not short", d)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}
