package telemetry

import (
	"testing"
	"time"
)

// The first warning is logged, those within the interval are held back
// and counted, and the next one after it reports how many were.
func TestEvery(t *testing.T) {
	e := NewEvery(time.Minute)
	t0 := time.Unix(1000, 0)
	for i, c := range []struct {
		at   time.Duration
		held int
		ok   bool
	}{{0, 0, true}, {time.Second, 0, false}, {59 * time.Second, 0, false}, {time.Minute, 2, true}, {time.Minute + 1, 0, false}, {3 * time.Minute, 1, true}} {
		if held, ok := e.Allow(t0.Add(c.at)); held != c.held || ok != c.ok {
			t.Fatalf("%d: Allow at +%v = %d, %v; want %d, %v", i, c.at, held, ok, c.held, c.ok)
		}
	}
	all := NewEvery(0)
	for range 3 {
		if _, ok := all.Allow(t0); !ok {
			t.Fatal("the zero interval held a warning back")
		}
	}
}
