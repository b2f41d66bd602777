package dedupe

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestSumConflict: an id committed with one digest is Done for the same
// digest (a retry) and a Conflict for another (a different event under a
// known id), in the local window, in Redis, and across two instances
// sharing Redis. A Conflict is not claimed: the id stays the first event's.
func TestSumConflict(t *testing.T) {
	ctx := context.Background()
	a, b := Sum{1}, Sum{2}
	cfg := testConfig(t, time.Minute, 10*time.Second)
	local, err := NewLocal(100, time.Minute, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Close() })
	for _, c := range []struct {
		name      string
		pub, peer Deduper // pub commits; peer asks
	}{
		{"local", local, local},
		{"redis", newRedis(t, cfg), newRedis(t, cfg)},
		{"layered", newLayered(t, cfg, nil, time.Now), newLayered(t, cfg, nil, time.Now)},
	} {
		t.Run(c.name, func(t *testing.T) {
			id := "order-123-" + c.name
			if st, _ := c.pub.Claim(ctx, []string{id}, []Sum{a}); !slices.Equal(st, []State{New}) {
				t.Fatalf("first claim %v", st)
			}
			// In flight under another digest: retry later, never Done.
			if st, _ := c.peer.Claim(ctx, []string{id}, []Sum{b}); !slices.Equal(st, []State{InFlight}) {
				t.Fatalf("claim while in flight %v", st)
			}
			if err := c.pub.Commit(ctx, []string{id}, []Sum{a}); err != nil {
				t.Fatal(err)
			}
			for range 2 { // a Conflict claims nothing: the answer stays
				st, err := c.peer.Claim(ctx, []string{id, id + "-new"}, []Sum{b, b})
				if err != nil || !slices.Equal(st[:1], []State{Conflict}) || st[1] != New {
					t.Fatalf("other digest: %v %v, want [conflict new]", st, err)
				}
				c.peer.Forget(ctx, []string{id + "-new"})
			}
			if st, _ := c.peer.Claim(ctx, []string{id}, []Sum{a}); !slices.Equal(st, []State{Done}) {
				t.Fatalf("same digest: %v, want done", st)
			}
			if st, _ := c.peer.Claim(ctx, []string{id}, nil); !slices.Equal(st, []State{Done}) {
				t.Fatalf("unknown digest: %v, want done", st)
			}
		})
	}
}
