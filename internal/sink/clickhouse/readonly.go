package clickhouse

import "github.com/event-grpc/event-grpc/internal/query"

// ReadOnly refuses anything but one query statement: after comments and
// whitespace it must start with SELECT, WITH, SHOW, DESCRIBE (DESC) or
// EXISTS, and hold no second statement (a ';' outside quotes and comments
// other than a trailing one). The server's readonly=1 is the second line
// of defence (see Query).
func ReadOnly(q string) error { return syntax.Check(q) }

// syntax is ClickHouse's SQL as the query endpoint reads it: quotes '…',
// "…" and `…`, backslash escapes in all of them, comments that do not
// nest. Its Statement checks a query with ReadOnly's rules and returns it
// without comments and without a trailing ';'.
var syntax = query.Syntax{
	Queries:          []string{"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS"},
	Backticks:        true,
	BackslashEscapes: true,
}
