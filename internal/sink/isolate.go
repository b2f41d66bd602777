package sink

import (
	"context"
	"time"

	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/schema"
)

// SplitBudget is the budget of partial writes the backends give Isolate
// (through Metrics.Isolate).
// One bad row among n costs about 2·log2(n) of them (28 for 10,000 rows).
const SplitBudget = 128

// WithDefaultTimeout returns ctx bounded by d when ctx has no deadline of
// its own, so that a Write never waits for ever, and its cancel.
func WithDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// Isolate writes rows with write, which stores the rows it is given as one
// operation. When that fails permanently (fault.Permanent: the data of some
// rows is at fault), Isolate writes halves, recursively, to find the rows
// the database refuses, so that one bad row never fails its neighbours.
// budget bounds the partial writes; when it runs out, the rows of each
// range still failing are reported failed together, with the error of
// their range (they are retried and, if good, pass in another batch).
//
// Isolate returns nil when every row was written, a *fault.Partial naming
// (by index in rows) the rows refused while the others were written, or
// the first error that is not permanent, as soon as one occurs (nothing may
// then be assumed written). A write of fewer rows than rows.Len() is a
// partial write: the caller counts them, if it wants, in write.
func Isolate(ctx context.Context, rows *schema.Batch, write func(context.Context, *schema.Batch) error, budget int) error {
	if rows.Len() == 0 {
		return nil
	}
	err := write(ctx, rows)
	if err == nil || !fault.IsPermanent(err) {
		return err
	}
	failed := map[int]error{}
	if err := isolate(ctx, rows, 0, err, write, &budget, failed); err != nil {
		return err
	}
	if len(failed) == 0 {
		return nil
	}
	return fault.NewPartial(failed)
}

// isolate finds the rows of part (which starts at index off of the rows
// Isolate was given) that the database refuses, by writing halves. cause
// is why part as a whole failed. It returns a non-permanent error as soon
// as one occurs.
func isolate(ctx context.Context, part *schema.Batch, off int, cause error, write func(context.Context, *schema.Batch) error, budget *int, failed map[int]error) error {
	if part.Len() == 1 || *budget <= 0 {
		for i := range part.Len() {
			failed[off+i] = cause
		}
		return nil
	}
	mid := part.Len() / 2
	for _, h := range []struct {
		rows *schema.Batch
		off  int
	}{{part.Slice(0, mid), off}, {part.Slice(mid, part.Len()), off + mid}} {
		*budget--
		err := write(ctx, h.rows)
		switch {
		case err == nil:
		case !fault.IsPermanent(err):
			return err
		default:
			if err := isolate(ctx, h.rows, h.off, err, write, budget, failed); err != nil {
				return err
			}
		}
	}
	return nil
}
