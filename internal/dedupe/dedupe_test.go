package dedupe

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// impl builds one Deduper of each kind for the shared contract tests.
type impl struct {
	name string
	new  func(t *testing.T, window, pending time.Duration) Deduper
}

func impls() []impl {
	return []impl{
		{"local", func(t *testing.T, window, pending time.Duration) Deduper {
			l, err := NewLocal(10_000, window, pending)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			return l
		}},
		{"redis", func(t *testing.T, window, pending time.Duration) Deduper {
			return newRedis(t, testConfig(t, window, pending))
		}},
		{"layered", func(t *testing.T, window, pending time.Duration) Deduper {
			return openStore(t, testConfig(t, window, pending))
		}},
		{"layered local only", func(t *testing.T, window, pending time.Duration) Deduper {
			return openStore(t, Config{Window: window, PendingTTL: pending, LocalMaxItems: 10_000})
		}},
	}
}

// openStore is Open with cfg, closed when the test ends.
func openStore(t *testing.T, cfg Config) Deduper {
	t.Helper()
	st, err := Open(cfg, quiet, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestContract(t *testing.T) {
	ctx := context.Background()
	for _, im := range impls() {
		t.Run(im.name, func(t *testing.T) {
			t.Run("claim, commit, done", func(t *testing.T) {
				d := im.new(t, time.Minute, 30*time.Second)
				expect(t, d, []string{"a", "b"}, New, New)
				expect(t, d, []string{"a", "c"}, InFlight, New)
				if err := d.Commit(ctx, []string{"a"}, nil); err != nil {
					t.Fatal(err)
				}
				expect(t, d, []string{"a", "b", "c"}, Done, InFlight, InFlight)
			})
			t.Run("forget releases a claim", func(t *testing.T) {
				d := im.new(t, time.Minute, 30*time.Second)
				expect(t, d, []string{"x", "y"}, New, New)
				if err := d.Forget(ctx, []string{"x"}); err != nil {
					t.Fatal(err)
				}
				expect(t, d, []string{"x", "y"}, New, InFlight)
				if err := d.Commit(ctx, []string{"x"}, nil); err != nil {
					t.Fatal(err)
				}
				if err := d.Forget(ctx, []string{"x"}); err != nil {
					t.Fatal(err)
				}
				expect(t, d, []string{"x"}, New)
			})
			t.Run("repeat within one call", func(t *testing.T) {
				d := im.new(t, time.Minute, 30*time.Second)
				expect(t, d, []string{"r", "s", "r", "r"}, New, New, InFlight, InFlight)
			})
			t.Run("empty", func(t *testing.T) {
				d := im.new(t, time.Minute, 30*time.Second)
				expect(t, d, nil)
				if d.Commit(ctx, nil, nil) != nil || d.Forget(ctx, nil) != nil {
					t.Fatal("empty commit or forget failed")
				}
			})
			t.Run("window expires", func(t *testing.T) {
				d := im.new(t, 300*time.Millisecond, 300*time.Millisecond)
				expect(t, d, []string{"w"}, New)
				if err := d.Commit(ctx, []string{"w"}, nil); err != nil {
					t.Fatal(err)
				}
				expect(t, d, []string{"w"}, Done)
				time.Sleep(450 * time.Millisecond)
				expect(t, d, []string{"w"}, New)
			})
			t.Run("an unfinished claim expires", func(t *testing.T) {
				d := im.new(t, time.Minute, 200*time.Millisecond)
				expect(t, d, []string{"p"}, New)
				expect(t, d, []string{"p"}, InFlight)
				time.Sleep(350 * time.Millisecond)
				expect(t, d, []string{"p"}, New)
			})
			t.Run("concurrent claims: one winner per id", func(t *testing.T) {
				d := im.new(t, time.Minute, 30*time.Second)
				shared := ids("c", 200)
				var (
					wg   sync.WaitGroup
					mu   sync.Mutex
					wins = map[string]int{}
				)
				for g := range 8 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						mine := append([]string(nil), shared...)
						// Each goroutine asks in its own order.
						for i := range mine {
							j := (i*7 + g*13) % len(mine)
							mine[i], mine[j] = mine[j], mine[i]
						}
						st, err := d.Claim(ctx, mine, nil)
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						defer mu.Unlock()
						for i, s := range st {
							if s == New {
								wins[mine[i]]++
							}
						}
					}()
				}
				wg.Wait()
				for _, id := range shared {
					if wins[id] != 1 {
						t.Fatalf("id %s claimed as new %d times, want once", id, wins[id])
					}
				}
			})
			t.Run("many ids in one call", func(t *testing.T) {
				d := im.new(t, time.Minute, 30*time.Second)
				many := ids("m", 9000)
				for _, s := range claim(t, d, many...) {
					if s != New {
						t.Fatalf("fresh id answered %v", s)
					}
				}
				if err := d.Commit(ctx, many, nil); err != nil {
					t.Fatal(err)
				}
				for i, s := range claim(t, d, many...) {
					if s != Done {
						t.Fatalf("id %d answered %v after commit", i, s)
					}
				}
			})
		})
	}
}
