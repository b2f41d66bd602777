package postgres

import "github.com/event-grpc/event-grpc/internal/query"

// ReadOnly refuses anything but one query statement: after comments and
// whitespace it must start with SELECT, WITH, SHOW, VALUES, TABLE or
// EXPLAIN, and hold no second statement (a ';' outside literals and
// comments other than a trailing one). The READ ONLY transaction and the
// extended protocol (one statement per query) are the second line of
// defence.
func ReadOnly(q string) error { return syntax.Check(q) }

// syntax is PostgreSQL's SQL as the query endpoint reads it: '…' strings
// (a doubled quote for a quote; backslash escapes only in E'…'), "…"
// identifiers, $tag$…$tag$ dollar quotes, -- line comments and nested
// /* */ comments. Its Statement checks a query with ReadOnly's rules and
// returns it without comments and without a trailing ';'.
var syntax = query.Syntax{
	Queries:        []string{"SELECT", "WITH", "SHOW", "VALUES", "TABLE", "EXPLAIN"},
	EscapeStrings:  true,
	DollarQuotes:   true,
	NestedComments: true,
}
