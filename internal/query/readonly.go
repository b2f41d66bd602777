package query

import (
	"strings"

	"github.com/event-grpc/event-grpc/internal/fault"
)

// Syntax is what the read-only check of a backend's query endpoint
// knows of its SQL: the keywords a query starts with, and how literals and
// comments are written. Every dialect has '…' strings and "…" identifiers
// (a doubled quote stands for one), -- line comments and /* */ comments.
type Syntax struct {
	// Queries are the keywords, in upper case, a statement may start with
	// (matched without regard to case).
	Queries []string
	// Backticks: `…` quotes identifiers too (ClickHouse, MySQL).
	Backticks bool
	// BackslashEscapes: a backslash escapes the next character in every
	// quoted literal (ClickHouse).
	BackslashEscapes bool
	// EscapeStrings: E'…' strings take backslash escapes; other strings
	// are standard (PostgreSQL, DuckDB).
	EscapeStrings bool
	// DollarQuotes: $tag$…$tag$ and $$…$$ are string literals; $1 is not
	// (PostgreSQL, DuckDB).
	DollarQuotes bool
	// NestedComments: /* */ comments nest (PostgreSQL, DuckDB).
	NestedComments bool
}

// Statement checks that q is one read-only query: after comments and
// whitespace it must start with one of s.Queries, and it may hold no
// second statement (a ';' outside literals and comments other than a
// trailing one). It returns q without comments and without the trailing
// ';'. A refusal is a permanent error (fault.Permanent). The check is the
// first line of defence: a backend runs the statement read-only too.
func (s Syntax) Statement(q string) (string, error) {
	code, semis := s.scan(q)
	code = strings.TrimSpace(code)
	if semis > 1 || (semis == 1 && !strings.HasSuffix(code, ";")) {
		return "", fault.Permanentf("only one statement is allowed")
	}
	code = strings.TrimSpace(strings.TrimSuffix(code, ";"))
	words := strings.FieldsFunc(code, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	})
	if len(words) == 0 {
		return "", fault.Permanentf("empty query")
	}
	first := strings.ToUpper(words[0])
	if !s.isQuery(first) {
		return "", fault.Permanentf("only queries are allowed (%s), not %s", strings.Join(s.Queries, ", "), first)
	}
	if first == "EXPLAIN" {
		// EXPLAIN ANALYZE runs its statement: what it explains must be a
		// query too.
		inner := explained(words[1:])
		if inner == "" || inner == "EXPLAIN" || !s.isQuery(inner) {
			return "", fault.Permanentf("EXPLAIN only of a query (%s), not of %s", strings.Join(s.Queries, ", "), inner)
		}
	}
	return code, nil
}

// Check is Statement without the statement: nil when q is one read-only
// query.
func (s Syntax) Check(q string) error {
	_, err := s.Statement(q)
	return err
}

func (s Syntax) isQuery(word string) bool {
	for _, k := range s.Queries {
		if word == k {
			return true
		}
	}
	return false
}

// explainOptions are the words that may stand between EXPLAIN and the
// statement it explains, in the dialects served (option lists in
// parentheses are words too, and skipped when known).
var explainOptions = map[string]bool{
	"ANALYZE": true, "ANALYSE": true, "VERBOSE": true, "COSTS": true, "BUFFERS": true, "TIMING": true,
	"SUMMARY": true, "SETTINGS": true, "WAL": true, "FORMAT": true, "TEXT": true, "JSON": true, "YAML": true,
	"XML": true, "TRUE": true, "FALSE": true, "ON": true, "OFF": true, "GRAPHVIZ": true, "HTML": true,
	"AST": true, "SYNTAX": true, "PLAN": true, "PIPELINE": true, "ESTIMATE": true, "QUERY": true, "TREE": true,
	"LOGICAL": true, "PHYSICAL": true, "OPTIMIZED": true,
}

// explained returns the first word after EXPLAIN's options, upper case.
func explained(words []string) string {
	for _, w := range words {
		u := strings.ToUpper(w)
		if !explainOptions[u] {
			return u
		}
	}
	return ""
}

// MaxResultBytes bounds the text of one query endpoint result, as rows do:
// a result over it is refused (add a LIMIT or select fewer columns), so a
// query cannot make the service hold an unbounded answer.
const MaxResultBytes = 16 << 20

// ResultBudget counts the bytes of a result being built.
type ResultBudget struct {
	Max  int // 0: MaxResultBytes
	used int
}

// Add counts rec and reports a permanent error once the result is over
// the bound.
func (b *ResultBudget) Add(rec []string) error {
	limit := b.Max
	if limit <= 0 {
		limit = MaxResultBytes
	}
	for _, v := range rec {
		b.used += len(v) + 4 // and the JSON quoting around it
	}
	if b.used > limit {
		return fault.Permanentf("result is over %d bytes; add a LIMIT or select fewer columns", limit)
	}
	return nil
}

// scan returns q without comments (a block comment becomes a space;
// literals are kept as they are) and the number of ';' outside literals
// and comments. An unterminated comment runs to the end of q.
func (s Syntax) scan(q string) (code string, semis int) {
	var b strings.Builder
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case strings.HasPrefix(q[i:], "--"):
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				return b.String(), semis
			}
			i += j
		case strings.HasPrefix(q[i:], "/*"):
			j := s.commentEnd(q, i)
			if j < 0 {
				return b.String(), semis
			}
			i = j
			b.WriteByte(' ')
		case c == '\'' || c == '"' || c == '`' && s.Backticks:
			escapes := s.BackslashEscapes ||
				s.EscapeStrings && c == '\'' && i > 0 && (q[i-1] == 'E' || q[i-1] == 'e') && (i < 2 || !isIdentChar(q[i-2]))
			j := quoteEnd(q, i, escapes)
			b.WriteString(q[i:j])
			i = j
		case c == '$' && s.DollarQuotes && (i == 0 || !isIdentChar(q[i-1])):
			j := dollarEnd(q, i)
			if j < 0 { // not a dollar quote: $1 is a parameter
				b.WriteByte(c)
				i++
				continue
			}
			b.WriteString(q[i:j])
			i = j
		default:
			if c == ';' {
				semis++
			}
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), semis
}

// commentEnd returns the index just past the block comment opening at
// q[i], or -1 when it does not end.
func (s Syntax) commentEnd(q string, i int) int {
	if !s.NestedComments {
		j := strings.Index(q[i+2:], "*/")
		if j < 0 {
			return -1
		}
		return i + 2 + j + 2
	}
	depth := 0
	for j := i; j < len(q); {
		switch {
		case strings.HasPrefix(q[j:], "/*"):
			depth++
			j += 2
		case strings.HasPrefix(q[j:], "*/"):
			depth--
			j += 2
			if depth == 0 {
				return j
			}
		default:
			j++
		}
	}
	return -1
}

// quoteEnd returns the index just past the literal that the quote q[i]
// opens (the end of q if it does not close). A doubled quote stands for
// one; with escapes, a backslash escapes the next character.
func quoteEnd(q string, i int, escapes bool) int {
	c := q[i]
	j := i + 1
	for j < len(q) {
		if escapes && q[j] == '\\' {
			j += 2
			continue
		}
		if q[j] == c {
			if j+1 < len(q) && q[j+1] == c {
				j += 2
				continue
			}
			break
		}
		j++
	}
	return min(j+1, len(q))
}

// dollarEnd returns the index just past the dollar-quoted string opening
// at q[i] (the end of q if it does not close), or -1 when q[i] opens none.
func dollarEnd(q string, i int) int {
	end := strings.IndexByte(q[i+1:], '$')
	if end < 0 {
		return -1
	}
	tag := q[i : i+end+2]
	if !validTag(tag[1 : len(tag)-1]) {
		return -1
	}
	closing := strings.Index(q[i+len(tag):], tag)
	if closing < 0 {
		return len(q)
	}
	return i + len(tag) + closing + len(tag)
}

func isIdentChar(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

func validTag(t string) bool {
	for i := 0; i < len(t); i++ {
		if !isIdentChar(t[i]) || (i == 0 && t[i] >= '0' && t[i] <= '9') {
			return false
		}
	}
	return true
}
