package sinktest

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/schema/schematest"
	"github.com/event-grpc/event-grpc/internal/sink"
)

// Harness is what a backend gives the conformance suite. Every field is
// required: the suite has no opt-outs.
type Harness struct {
	// Table is the all-types table (AllTypes) as the backend keys it.
	Table func() *schema.Table
	// New opens a sink on a namespace of its own (database, schema, file);
	// the harness closes it at the end of the test.
	New func(t *testing.T) sink.Sink
	// ReadBack returns the stored rows of tbl, ordered by id, as the Go
	// values of the columns' types (the deduplicated view: FINAL where the
	// store merges later).
	ReadBack func(t *testing.T, s sink.Sink, tbl *schema.Table) []schematest.Row
	// Spoil changes row r (Go types still fitting) so that the store
	// refuses it for its data.
	Spoil func(tbl *schema.Table, r schematest.Row)
	// Gone returns a sink whose store is unreachable (a cut connection, a
	// writer held) until back is called.
	Gone func(t *testing.T) (s sink.Sink, back func())
}

var base = time.Date(2024, 6, 10, 8, 30, 15, 0, time.UTC)

// Run runs the conformance suite.
func Run(t *testing.T, h Harness) {
	ctx := context.Background()
	open := func(t *testing.T) (sink.Sink, *schema.Table) {
		s := h.New(t)
		tbl := h.Table()
		if err := s.Migrate(ctx, []*schema.Table{tbl}); err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx, []*schema.Table{tbl}); err != nil {
			t.Fatalf("Migrate is not idempotent: %v", err)
		}
		return s, tbl
	}
	t.Run("TypedReadBack", func(t *testing.T) {
		s, tbl := open(t)
		rows := AllTypesRows(t, tbl, 6, base)
		rows[1][tbl.Index("tags")] = []string{}
		rows[2][tbl.Index("doc")] = "{}"
		rows[3][tbl.Index("kind")] = "é日本 \"q\" \\ \t"
		if err := s.Write(ctx, Batch(t, tbl, rows)); err != nil {
			t.Fatal(err)
		}
		same(t, tbl, h.ReadBack(t, s, tbl), rows)
	})
	t.Run("WrittenTwiceOneRowPerKey", func(t *testing.T) {
		s, tbl := open(t)
		rows := AllTypesRows(t, tbl, 50, base)
		b := Batch(t, tbl, rows)
		for range 2 {
			if err := s.Write(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		// A batch holding the same row twice, and a later batch overlapping.
		if err := s.Write(ctx, Batch(t, tbl, append(rows[40:], rows[45]))); err != nil {
			t.Fatal(err)
		}
		same(t, tbl, h.ReadBack(t, s, tbl), rows)
	})
	t.Run("BadRowFailsAlone", func(t *testing.T) {
		s, tbl := open(t)
		rows := AllTypesRows(t, tbl, 20, base)
		h.Spoil(tbl, rows[7])
		if failed := Failed(t, s.Write(ctx, Batch(t, tbl, rows)), 7); !fault.IsPermanent(failed[7]) {
			t.Fatalf("row 7 failed with %v, want a permanent error", failed[7])
		}
		same(t, tbl, h.ReadBack(t, s, tbl), append(rows[:7:7], rows[8:]...))
	})
	t.Run("GoneIsTransientAndHeld", func(t *testing.T) {
		s, back := h.Gone(t)
		tbl := h.Table()
		rows := AllTypesRows(t, tbl, 10, base)
		b := Batch(t, tbl, rows)
		wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := s.Write(wctx, b)
		cancel()
		if err == nil || fault.IsPermanent(err) {
			t.Fatalf("err = %v, want a transient error", err)
		}
		if _, ok := fault.AsPartial(err); ok {
			t.Fatalf("err = %v: a partial failure while the store is gone", err)
		}
		back()
		// The batch was held: written again once the store is back, it
		// lands once.
		var werr error
		for range 50 {
			if werr = s.Write(ctx, b); werr == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if werr != nil {
			t.Fatalf("the held batch still fails after the store came back: %v", werr)
		}
		same(t, tbl, h.ReadBack(t, s, tbl), rows)
	})
	t.Run("ConcurrentWriters", func(t *testing.T) {
		s, tbl := open(t)
		all := AllTypesRows(t, tbl, 400, base)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 8 {
			wg.Go(func() { errs <- s.Write(ctx, Batch(t, tbl, all[w*50:(w+1)*50])) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		same(t, tbl, h.ReadBack(t, s, tbl), all)
	})
	t.Run("EmptyBatch", func(t *testing.T) {
		s, tbl := open(t)
		if err := s.Write(ctx, schema.NewBatch(tbl)); err != nil {
			t.Fatalf("empty batch: %v", err)
		}
	})
	t.Run("CloseTwice", func(t *testing.T) {
		s, tbl := open(t)
		if err := s.Write(ctx, Batch(t, tbl, AllTypesRows(t, tbl, 1, base))); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(ctx); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		err := s.Write(ctx, Batch(t, tbl, AllTypesRows(t, tbl, 1, base)))
		if err == nil {
			t.Fatal("Write after Close succeeded")
		}
		if _, ok := fault.AsPartial(err); ok || errors.Is(err, context.Canceled) {
			t.Fatalf("Write after Close: %v", err)
		}
	})
}

// same compares stored rows with the rows written, ordered by id.
func same(t *testing.T, tbl *schema.Table, got, want []schematest.Row) {
	t.Helper()
	id := tbl.Index("id")
	byID := map[string]schematest.Row{}
	for _, r := range want {
		byID[r[id].(string)] = r
	}
	if len(got) != len(byID) {
		t.Fatalf("%d rows stored, want %d (one per key)", len(got), len(byID))
	}
	for _, g := range got {
		w, ok := byID[g[id].(string)]
		if !ok {
			t.Fatalf("row %v was not written", g[id])
		}
		for c := range w {
			if tbl.Columns[c].Type == schema.JSON {
				var gj, wj any
				if json.Unmarshal([]byte(g[c].(string)), &gj) != nil || json.Unmarshal([]byte(w[c].(string)), &wj) != nil || !reflect.DeepEqual(gj, wj) {
					t.Fatalf("row %v column %s: stored %s, wrote %s", g[id], tbl.Columns[c].Name, g[c], w[c])
				}
				continue
			}
			if !reflect.DeepEqual(norm(g[c]), norm(w[c])) {
				t.Fatalf("row %v column %s: stored %#v, wrote %#v", g[id], tbl.Columns[c].Name, g[c], w[c])
			}
		}
	}
}

func norm(v any) any {
	switch x := v.(type) {
	case []string:
		if len(x) == 0 {
			return []string{}
		}
	case time.Time:
		return x.UTC()
	}
	return v
}
