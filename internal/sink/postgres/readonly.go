package postgres

import (
	"strings"

	"github.com/event-grpc/event-grpc/internal/fault"
)

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
// and without a trailing ';'.
func statement(q string) (string, error) {
	code, semis := scanSQL(q)
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
	switch first := strings.ToUpper(words[0]); first {
	case "SELECT", "WITH", "SHOW", "VALUES", "TABLE", "EXPLAIN":
		return code, nil
	default:
		return "", fault.Permanentf("only queries are allowed (SELECT, WITH, SHOW, VALUES, TABLE, EXPLAIN), not %s", first)
	}
}

// scanSQL returns q without comments and the number of ';' outside
// literals and comments, with PostgreSQL's lexical rules: '…' strings with
// ” for a quote (backslash escapes only in E'…'), "…" identifiers,
// $tag$…$tag$ dollar quotes, -- line comments and nested /* */ comments.
func scanSQL(q string) (code string, semis int) {
	var b strings.Builder
	i := 0
	for i < len(q) {
		c := q[i]
		switch {
		case strings.HasPrefix(q[i:], "--"):
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				return b.String(), semis
			}
			i += j
		case strings.HasPrefix(q[i:], "/*"):
			depth, j := 0, i
			for j < len(q) {
				if strings.HasPrefix(q[j:], "/*") {
					depth++
					j += 2
				} else if strings.HasPrefix(q[j:], "*/") {
					depth--
					j += 2
					if depth == 0 {
						break
					}
				} else {
					j++
				}
			}
			i = j
			b.WriteByte(' ')
		case c == '\'' || c == '"':
			escapes := c == '\'' && i > 0 && (q[i-1] == 'E' || q[i-1] == 'e') && (i < 2 || !isIdentChar(q[i-2]))
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
			j = min(j+1, len(q))
			b.WriteString(q[i:j])
			i = j
		case c == '$' && (i == 0 || !isIdentChar(q[i-1])):
			// $tag$ or $$ opens a dollar-quoted string; $1 is a parameter.
			end := strings.IndexByte(q[i+1:], '$')
			tag := ""
			if end >= 0 {
				tag = q[i : i+end+2]
			}
			if end < 0 || !validTag(tag[1:len(tag)-1]) {
				b.WriteByte(c)
				i++
				continue
			}
			closing := strings.Index(q[i+len(tag):], tag)
			j := len(q)
			if closing >= 0 {
				j = i + len(tag) + closing + len(tag)
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
