package sink

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/schema/schematest"
)

// store is a table that refuses, permanently, every row whose value is
// listed in bad, and fails transiently on the write numbered failAt.
type store struct {
	bad    map[int]bool
	failAt int // 1-based write number; 0: never
	writes int
	sizes  []int
	stored []int
}

func (s *store) write(_ context.Context, b *schema.Batch) error {
	s.writes++
	s.sizes = append(s.sizes, b.Len())
	if s.writes == s.failAt {
		return errors.New("connection reset")
	}
	for _, v := range b.Cols[0].I64 {
		if s.bad[int(v)] {
			return fault.Permanent(fmt.Errorf("row %d refused", v))
		}
	}
	for _, v := range b.Cols[0].I64 {
		s.stored = append(s.stored, int(v))
	}
	return nil
}

var numberedTable = &schema.Table{Name: "n", Columns: []schema.Column{{Name: "n", Type: schema.Int64}}}

func numbered(n int) *schema.Batch {
	b := schema.NewBatch(numberedTable)
	for i := range n {
		if err := schematest.AppendRow(b, schematest.Row{int64(i)}); err != nil {
			panic(err)
		}
	}
	return b
}

func TestIsolate(t *testing.T) {
	tests := []struct {
		name       string
		rows       int
		bad        []int
		failAt     int
		budget     int
		wantFailed []int // nil with wantErr false: no error
		wantErr    bool  // a transient error
		maxWrites  int
	}{
		{name: "all good", rows: 10, budget: 128, maxWrites: 1},
		{name: "empty", rows: 0, budget: 128, maxWrites: 0},
		{name: "one row refused", rows: 1, bad: []int{0}, budget: 128, wantFailed: []int{0}, maxWrites: 1},
		{name: "one bad row among many", rows: 1000, bad: []int{617}, budget: 128, wantFailed: []int{617}, maxWrites: 1 + 2*10},
		{name: "first and last", rows: 9, bad: []int{0, 8}, budget: 128, wantFailed: []int{0, 8}},
		{name: "all bad", rows: 4, bad: []int{0, 1, 2, 3}, budget: 128, wantFailed: []int{0, 1, 2, 3}, maxWrites: 7},
		{name: "no budget: the whole batch fails together", rows: 8, bad: []int{3}, budget: 0,
			wantFailed: []int{0, 1, 2, 3, 4, 5, 6, 7}, maxWrites: 1},
		// budget 2: halves [0,4) (fails) and, within it, [0,2) (passes) and
		// [2,4) (fails, budget spent: its rows fail together); then [4,8).
		{name: "budget runs out: the failing range fails together", rows: 8, bad: []int{3}, budget: 2,
			wantFailed: []int{2, 3}, maxWrites: 5},
		{name: "transient on the first write", rows: 8, bad: []int{3}, failAt: 1, budget: 128, wantErr: true, maxWrites: 1},
		{name: "transient while splitting", rows: 8, bad: []int{3}, failAt: 3, budget: 128, wantErr: true, maxWrites: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &store{bad: map[int]bool{}, failAt: tc.failAt}
			for _, b := range tc.bad {
				s.bad[b] = true
			}
			err := Isolate(context.Background(), numbered(tc.rows), s.write, tc.budget)
			var be *fault.Partial
			switch {
			case tc.wantErr:
				if err == nil || errors.As(err, &be) || fault.IsPermanent(err) {
					t.Fatalf("err = %v, want the transient error", err)
				}
			case tc.wantFailed == nil:
				if err != nil {
					t.Fatalf("err = %v", err)
				}
			default:
				if !errors.As(err, &be) {
					t.Fatalf("err = %v, want *fault.Partial", err)
				}
				got := slices.Sorted(maps.Keys(be.Failed))
				if !slices.Equal(got, tc.wantFailed) {
					t.Fatalf("failed = %v, want %v", got, tc.wantFailed)
				}
				for i, e := range be.Failed {
					if !fault.IsPermanent(e) {
						t.Errorf("row %d: cause %v is not permanent", i, e)
					}
				}
				if tc.budget > 0 {
					for _, b := range tc.bad {
						if want := fmt.Sprintf("row %d refused", b); be.Failed[b].Error() != want {
							t.Errorf("row %d: cause %q, want %q", b, be.Failed[b], want)
						}
					}
				}
				// Every row not reported failed was stored exactly once.
				stored := slices.Sorted(slices.Values(s.stored))
				var want []int
				for i := range tc.rows {
					if be.Failed[i] == nil {
						want = append(want, i)
					}
				}
				if !slices.Equal(stored, want) {
					t.Fatalf("stored %v, want %v", stored, want)
				}
			}
			if tc.maxWrites > 0 && s.writes > tc.maxWrites {
				t.Errorf("%d writes (sizes %v), want at most %d", s.writes, s.sizes, tc.maxWrites)
			}
			if tc.rows == 0 && s.writes != 0 {
				t.Errorf("%d writes of no rows", s.writes)
			}
			for _, n := range s.sizes[min(1, len(s.sizes)):] {
				if n >= tc.rows {
					t.Errorf("a partial write of %d rows of %d (sizes %v)", n, tc.rows, s.sizes)
				}
			}
		})
	}
}

func TestIsolateBudget(t *testing.T) {
	// Every row bad: without a budget this would take 2n-1 writes.
	const n = 1024
	s := &store{bad: map[int]bool{}}
	for i := range n {
		s.bad[i] = true
	}
	err := Isolate(context.Background(), numbered(n), s.write, SplitBudget)
	var be *fault.Partial
	if !errors.As(err, &be) || len(be.Failed) != n {
		t.Fatalf("err = %v, want all %d rows failed", err, n)
	}
	// The budget is checked before each split, whose two halves are then
	// both written: at most one write beyond it per level of splitting
	// (log2(n) levels).
	if partial := s.writes - 1; partial > SplitBudget+10 {
		t.Fatalf("%d partial writes, budget %d", partial, SplitBudget)
	}
}
