package landing

import "testing"

// TestFreeListKeepsWhatIsUsedAtOnce: a handler whose calls never overlap
// keeps one finished state; one that had three in hand at once keeps
// three; none keeps more than keptStates.
func TestFreeListKeepsWhatIsUsedAtOnce(t *testing.T) {
	made := 0
	f := freeList{c: make(chan *state, keptStates), new: func() *state { made++; return &state{} }}
	for range 10 {
		f.Put(f.Get())
	}
	if len(f.c) != 1 || made != 1 {
		t.Fatalf("sequential calls: kept %d states and made %d, want 1 and 1", len(f.c), made)
	}
	hold := func(n int) {
		sts := make([]*state, n)
		for i := range sts {
			sts[i] = f.Get()
		}
		for _, st := range sts {
			f.Put(st)
		}
	}
	hold(3)
	if len(f.c) != 3 {
		t.Fatalf("after three states in hand at once: kept %d, want 3", len(f.c))
	}
	hold(keptStates + 2)
	if len(f.c) != keptStates {
		t.Fatalf("after %d in hand at once: kept %d, want keptStates (%d)", keptStates+2, len(f.c), keptStates)
	}
}
