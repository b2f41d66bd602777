package schema

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// JSONRow is the source of one row of a JSON-fed table: one decoded JSON
// object (decoded with UseNumber) with its message's headers, the stable
// id of the object (meta.message_id) and the insert time.
type JSONRow struct {
	Doc        map[string]any
	Headers    map[string]string
	MessageID  string
	InsertTime time.Time
}

// CompileJSON compiles the From paths of a JSON-fed table: $.a.b (array
// elements by index: $.a.0), $ (the whole document, re-encoded), header:x,
// meta.insert_time, meta.message_id. A path of another kind is an error.
// The path is split here, once; each row walks the decoded object.
func CompileJSON(t *Table) (*Mapper[*JSONRow], error) {
	return Compile(t, resolveJSON)
}

func resolveJSON(from string, col Column) (Getter[*JSONRow], error) {
	switch {
	case from == "$":
		return func(r *JSONRow, b *Batch, c *Col) (bool, error) {
			return true, appendAny(c, map[string]any(r.Doc))
		}, nil
	case strings.HasPrefix(from, "$."):
		parts := strings.Split(from[2:], ".")
		idx := make([]int, len(parts)) // -1: not an index
		for i, p := range parts {
			if p == "" {
				return nil, fmt.Errorf("path %q has an empty part", from)
			}
			idx[i] = -1
			if n, err := strconv.Atoi(p); err == nil && n >= 0 {
				idx[i] = n
			}
		}
		return func(r *JSONRow, b *Batch, c *Col) (bool, error) {
			var cur any = r.Doc
			for i, p := range parts {
				switch x := cur.(type) {
				case map[string]any:
					v, ok := x[p]
					if !ok {
						return false, nil
					}
					cur = v
				case []any:
					if idx[i] < 0 || idx[i] >= len(x) {
						return false, nil
					}
					cur = x[idx[i]]
				default:
					return false, nil
				}
			}
			if cur == nil {
				return false, nil
			}
			if s, ok := cur.(string); ok {
				return true, appendStr(b, c, s)
			}
			return true, appendAny(c, cur)
		}, nil
	case strings.HasPrefix(from, "header:"):
		name := from[len("header:"):]
		return func(r *JSONRow, b *Batch, c *Col) (bool, error) {
			v, ok := r.Headers[name]
			if !ok {
				return false, nil
			}
			return true, appendStr(b, c, v)
		}, nil
	case from == "meta.insert_time":
		return func(r *JSONRow, b *Batch, c *Col) (bool, error) {
			if c.Type != DateTime && c.Type != Date {
				return true, appendAny(c, r.InsertTime)
			}
			appendTime(c, r.InsertTime)
			return true, nil
		}, nil
	case from == "meta.message_id":
		return func(r *JSONRow, b *Batch, c *Col) (bool, error) {
			if r.MessageID == "" {
				return false, nil
			}
			return true, appendStr(b, c, r.MessageID)
		}, nil
	}
	return nil, fmt.Errorf("%q is not a JSON path ($, $.a.b, header:x, meta.insert_time, meta.message_id)", from)
}
