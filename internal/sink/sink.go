package sink

import (
	"context"
	"time"

	"github.com/event-grpc/event-grpc/internal/query"
	"github.com/event-grpc/event-grpc/internal/schema"
)

// Sink writes columnar batches to tables.
type Sink interface {
	// Migrate creates the tables that are missing (and their databases or
	// schemas) and adds declared columns that a table lacks. Idempotent.
	Migrate(ctx context.Context, tables []*schema.Table) error
	// Write stores the rows of b in b.Table as one batch (one insert, COPY
	// or append) and returns nil only once they are committed. Rows whose
	// key is already stored do not make a second visible row. A
	// *fault.Partial names (by row index in b) rows that failed
	// permanently while the others committed; an error classified
	// permanent (fault.Permanent) fails every row for its data; any other
	// error is transient and nothing may be assumed committed. Write does
	// not keep b (or its strings) after it returns. Safe for concurrent use.
	Write(ctx context.Context, b *schema.Batch) error
	// Close releases connections. Safe to call twice.
	Close(ctx context.Context) error
}

// QueryTimeout bounds a statement of the query endpoint on the server.
const QueryTimeout = 60 * time.Second

// Querier is query.Querier, the optional capability behind the read-only
// query endpoint; the wrappers here (Coalescer, Connecting) pass it on.
type Querier = query.Querier
