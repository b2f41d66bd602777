package query

import (
	"strings"
	"testing"

	"github.com/event-grpc/event-grpc/internal/fault"
)

func TestQuerySyntaxStatement(t *testing.T) {
	plain := Syntax{Queries: []string{"SELECT", "SHOW"}}
	ch := Syntax{Queries: []string{"SELECT"}, Backticks: true, BackslashEscapes: true}
	pg := Syntax{Queries: []string{"SELECT"}, EscapeStrings: true, DollarQuotes: true, NestedComments: true}
	tests := []struct {
		name   string
		syntax Syntax
		q      string
		want   string // the statement returned; "" with err
		err    string // part of the refusal; "" when accepted
	}{
		{"keyword", plain, "SELECT 1", "SELECT 1", ""},
		{"keyword in lower case", plain, "show tables", "show tables", ""},
		{"keyword after a parenthesis", plain, "(SELECT 1)", "(SELECT 1)", ""},
		{"not a query", plain, "DROP TABLE t", "", "only queries are allowed (SELECT, SHOW), not DROP"},
		{"empty", plain, "  ", "", "empty query"},
		{"only comments", plain, "-- x\n/* y */", "", "empty query"},
		{"only a semicolon", plain, ";", "", "empty query"},
		{"trailing semicolon dropped", plain, " SELECT 1 ; ", "SELECT 1", ""},
		{"two statements", plain, "SELECT 1; SELECT 2", "", "only one statement"},
		{"two trailing semicolons", plain, "SELECT 1;;", "", "only one statement"},
		{"line comment dropped", plain, "SELECT 1 -- ; x\n", "SELECT 1", ""},
		{"line comment to the end", plain, "SELECT 1 -- ; x", "SELECT 1", ""},
		{"block comment becomes a space", plain, "SELECT/* ; */1", "SELECT 1", ""},
		{"unterminated block comment", plain, "SELECT 1 /* ; DROP", "SELECT 1", ""},
		{"comment hides no keyword", plain, "/* SELECT */ DELETE FROM t", "", "not DELETE"},
		{"semicolon in a string", plain, "SELECT ';'", "SELECT ';'", ""},
		{"comment marks in a string", plain, "SELECT '--', '/*' ; ", "SELECT '--', '/*'", ""},
		{"doubled quote", plain, "SELECT 'it''s;'", "SELECT 'it''s;'", ""},
		{"semicolon in an identifier", plain, `SELECT "a;b" FROM t`, `SELECT "a;b" FROM t`, ""},
		{"unterminated string", plain, "SELECT 'a; DROP", "SELECT 'a; DROP", ""},
		{"backtick not a quote", plain, "SELECT `a;b`", "", "only one statement"},
		{"backticks quote", ch, "SELECT `a;b`", "SELECT `a;b`", ""},
		{"backslash escapes everywhere", ch, `SELECT 'a\';'`, `SELECT 'a\';'`, ""},
		{"backslash escapes in identifiers", ch, `SELECT "a\";"`, `SELECT "a\";"`, ""},
		{"comments do not nest", ch, "/* a /* b */ SELECT 1", "SELECT 1", ""},
		{"comments do not nest: the rest is code", ch, "/* a /* b */ c */ SELECT 1", "", "not C"},
		{"standard strings: the literal ends at \\'", pg, `SELECT 'a\'; DROP TABLE t; --'`, "", "only one statement"},
		{"E string escapes", pg, `SELECT E'\';'`, `SELECT E'\';'`, ""},
		{"e string escapes", pg, `SELECT e'\';'`, `SELECT e'\';'`, ""},
		{"E ending a word is no prefix", pg, `SELECT typE'\'; DROP t`, "", "only one statement"},
		{"comments nest", pg, "/* a /* b */ ; */ SELECT 1", "SELECT 1", ""},
		{"dollar quotes", pg, "SELECT $$;$$, $tag$ ; $tag$", "SELECT $$;$$, $tag$ ; $tag$", ""},
		{"unterminated dollar quote", pg, "SELECT $$; DROP", "SELECT $$; DROP", ""},
		{"parameter is no dollar quote", pg, "SELECT $1; DROP t", "", "only one statement"},
		{"dollar in a word is no quote", pg, "SELECT a$b$; DROP t", "", "only one statement"},
		{"dollar quotes off", plain, "SELECT $$;$$", "", "only one statement"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.syntax.Statement(tc.q)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Statement(%q) = %q, %v; want a refusal with %q", tc.q, got, err, tc.err)
				}
				if !fault.IsPermanent(err) {
					t.Fatalf("refusal is not permanent: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Statement(%q) = %q, %v; want %q", tc.q, got, err, tc.want)
			}
		})
	}
}

func TestEscape(t *testing.T) {
	if got, want := Escape("a\tb\nc\\d"), `a\tb\nc\\d`; got != want {
		t.Fatalf("Escape = %q, want %q", got, want)
	}
	if got := Escape(`\N`); got == `\N` {
		t.Fatalf("Escape(%q) = %q: a stored \\N must not read as NULL", `\N`, got)
	}
}
