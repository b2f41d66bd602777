package dedupe

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// redisAddr is the Redis the tests use; it must be running.
const redisAddr = "127.0.0.1:6379"

// testConfig returns a configuration with a key prefix of its own, and
// removes the prefix's keys when the test ends.
func testConfig(t *testing.T, window, pending time.Duration) Config {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "eventgrpc:test:" + hex.EncodeToString(b) + ":"
	admin := redis.NewClient(&redis.Options{Addr: redisAddr})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := admin.Ping(ctx).Err(); err != nil {
		admin.Close()
		t.Fatalf("redis at %s is needed by this test and does not answer: %v", redisAddr, err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		keys, err := scan(ctx, admin, prefix)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		if len(keys) > 0 {
			if err := admin.Del(ctx, keys...).Err(); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	return Config{Window: window, PendingTTL: pending, RedisAddrs: []string{redisAddr}, KeyPrefix: prefix,
		LocalMaxItems: 10_000, RedisTimeout: time.Second}
}

func scan(ctx context.Context, c *redis.Client, prefix string) ([]string, error) {
	var keys []string
	it := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for it.Next(ctx) {
		keys = append(keys, it.Val())
	}
	return keys, it.Err()
}

func newRedis(t *testing.T, cfg Config) *Redis {
	t.Helper()
	r, err := NewRedis(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func claim(t *testing.T, d Deduper, ids ...string) []State {
	t.Helper()
	s, err := d.Claim(context.Background(), ids, nil)
	if err != nil {
		t.Fatalf("claim %v: %v", ids, err)
	}
	if len(s) != len(ids) {
		t.Fatalf("claim of %d ids answered %d states", len(ids), len(s))
	}
	return s
}

func expect(t *testing.T, d Deduper, ids []string, want ...State) {
	t.Helper()
	if got := claim(t, d, ids...); !slices.Equal(got, want) {
		t.Fatalf("claim %v = %v, want %v", ids, got, want)
	}
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}
