package clickhouse

import (
	"strings"

	"github.com/event-grpc/event-grpc/internal/fault"
)

// ReadOnly refuses anything but one query statement: after comments and
// whitespace it must start with SELECT, WITH, SHOW, DESCRIBE (DESC) or
// EXISTS, and hold no second statement (a ';' outside quotes and comments
// other than a trailing one). The server's readonly setting is the second
// line of defence.
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
	case "SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS":
		return code, nil
	default:
		return "", fault.Permanentf("only queries are allowed (SELECT, WITH, SHOW, DESCRIBE, EXISTS), not %s", first)
	}
}

// scanSQL returns q without comments (string and identifier literals kept
// as they are) and the number of ';' outside literals and comments.
func scanSQL(q string) (code string, semis int) {
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
			j := strings.Index(q[i+2:], "*/")
			if j < 0 {
				return b.String(), semis
			}
			i += j + 4
			b.WriteByte(' ')
		case c == '\'' || c == '"' || c == '`':
			j := i + 1
			for j < len(q) {
				if q[j] == '\\' {
					j += 2
					continue
				}
				if q[j] == c {
					if j+1 < len(q) && q[j+1] == c { // doubled quote
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
