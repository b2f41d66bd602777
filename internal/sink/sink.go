package sink

import (
	"context"
	"fmt"
	"sort"

	"github.com/event-grpc/event-grpc/internal/schema"
)

// Sink writes rows to tables.
type Sink interface {
	// Migrate creates the tables that are missing (and their databases or
	// schemas) and adds declared columns that a table lacks. Idempotent.
	Migrate(ctx context.Context, tables []*schema.Table) error
	// Write stores rows in t as one batch (one insert, COPY or API call)
	// and returns nil only once they are committed. Rows whose key is
	// already stored do not make a second visible row. A *BatchError names
	// rows that failed permanently while the others committed; an error
	// classified permanent (fault.Permanent) fails every row for its data;
	// any other error is transient and nothing may be assumed committed.
	// Safe for concurrent use.
	Write(ctx context.Context, t *schema.Table, rows []schema.Row) error
	// Close releases connections. Safe to call twice.
	Close(ctx context.Context) error
}

// BatchError names the rows of a Write that failed permanently; the other
// rows were committed.
type BatchError struct {
	Failed map[int]error // row index → why
}

func (e *BatchError) Error() string {
	idx := make([]int, 0, len(e.Failed))
	for i := range e.Failed {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	if len(idx) == 0 {
		return "no row failed"
	}
	return fmt.Sprintf("%d row(s) failed, first #%d: %v", len(idx), idx[0], e.Failed[idx[0]])
}

// Querier is the optional capability behind the read-only query endpoint.
type Querier interface {
	// Query runs one read-only statement and returns its rows as strings
	// (NULL as `\N`), with the column names. Statements that are not
	// queries are refused with a permanent error.
	Query(ctx context.Context, sql string, maxRows int) (columns []string, rows [][]string, err error)
}
