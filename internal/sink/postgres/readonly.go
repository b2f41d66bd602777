package postgres

import "github.com/event-grpc/event-grpc/internal/query"

// ReadOnly refuses anything but one query statement: after comments and
// whitespace it must start with SELECT, WITH, SHOW, VALUES, TABLE or
// EXPLAIN, and hold no second statement (a ';' outside literals and
// comments other than a trailing one). The READ ONLY transaction and the
// extended protocol (one statement per query) are the second line of
// defence.
func ReadOnly(q string) error {
	_, err := statement(q)
	return err
}

// statement checks q with ReadOnly's rules and returns it without comments
// and without a trailing ';', with PostgreSQL's lexical rules: '…' strings
// (a doubled quote for a quote; backslash escapes only in E'…'), "…"
// identifiers, $tag$…$tag$ dollar quotes, -- line comments and nested
// /* */ comments.
func statement(q string) (string, error) {
	return query.Syntax{
		Queries:        []string{"SELECT", "WITH", "SHOW", "VALUES", "TABLE", "EXPLAIN"},
		EscapeStrings:  true,
		DollarQuotes:   true,
		NestedComments: true,
	}.Statement(q)
}
