package schema

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Getter reads one column's value from a row of source type R and appends
// it to c, converted to c.Type (b is the batch, for its string arena). It
// returns false, having appended nothing, when the source has no value
// there; an error (the value does not fit the column) may leave c one value
// longer, which the Mapper rolls back.
type Getter[R any] func(r R, b *Batch, c *Col) (ok bool, err error)

// Resolver compiles one alternative of a column's From (no "|", no
// "const:") into a Getter, or says why it cannot (an unknown path).
type Resolver[R any] func(from string, col Column) (Getter[R], error)

// Mapper appends rows of one table to columnar batches from sources of type
// R. Its getters are compiled once (Compile): the per-row path parses no
// path string. A Mapper is safe for concurrent use (each caller its own
// Batch).
type Mapper[R any] struct {
	t    *Table
	cols [][]Getter[R] // per column, its alternatives in order
}

// Compile resolves every column's From of t with resolve. A From may list
// alternatives separated by "|", tried in order until one has a value:
// "$.event_id|meta.message_id" takes the message's event_id, else the
// message id the handler supplies; "$.status|const:new" defaults to "new".
// A "const:" alternative takes the rest of the From, "|" and all; it is
// converted to the column's type here, once.
func Compile[R any](t *Table, resolve Resolver[R]) (*Mapper[R], error) {
	m := &Mapper[R]{t: t, cols: make([][]Getter[R], len(t.Columns))}
	for i, c := range t.Columns {
		from := c.From
		for from != "" {
			if lit, ok := strings.CutPrefix(from, "const:"); ok {
				v, err := Convert(c.Type, lit)
				if err != nil {
					return nil, &ColumnError{t.Name, c.Name, c.From, err}
				}
				m.cols[i] = append(m.cols[i], func(_ R, _ *Batch, col *Col) (bool, error) {
					col.appendValue(v)
					return true, nil
				})
				break
			}
			first, rest, _ := strings.Cut(from, "|")
			g, err := resolve(first, c)
			if err != nil {
				return nil, &ColumnError{t.Name, c.Name, c.From, err}
			}
			m.cols[i] = append(m.cols[i], g)
			from = rest
		}
	}
	return m, nil
}

// Table returns the mapper's table.
func (m *Mapper[R]) Table() *Table { return m.t }

// Append appends the row of r to b (a batch of m's table), or nothing and
// a *ColumnError for the first column whose value is missing (Required) or
// does not fit. Absent optional columns take their type's zero (Zero).
func (m *Mapper[R]) Append(b *Batch, r R) error {
	for i, alts := range m.cols {
		c := &b.Cols[i]
		ok := false
		for _, g := range alts {
			var err error
			if ok, err = g(r, b, c); err != nil {
				b.rollback()
				col := m.t.Columns[i]
				return &ColumnError{m.t.Name, col.Name, col.From, err}
			}
			if ok {
				break
			}
		}
		if !ok {
			col := m.t.Columns[i]
			if col.Required {
				b.rollback()
				return &ColumnError{m.t.Name, col.Name, col.From, ErrMissing}
			}
			c.appendZero()
		}
	}
	b.n++
	return nil
}

// appendAny converts a decoded value (JSON) and appends it.
func appendAny(c *Col, v any) error {
	cv, err := Convert(c.Type, v)
	if err != nil {
		return err
	}
	c.appendValue(cv)
	return nil
}

// appendStr appends the text s converted to c's type (as Convert does for
// a string, with the same parsers), without boxing.
func appendStr(b *Batch, c *Col, s string) error {
	switch c.Type {
	case String:
		c.Str = append(c.Str, s)
	case JSON:
		return appendParsed(&c.Str, jsonText, s)
	case Int64, Int32:
		n, err := parseInt(s)
		if err != nil {
			return err
		}
		return appendInt(c, n)
	case Float64:
		return appendParsed(&c.F64, parseFloat, s)
	case Bool:
		return appendParsed(&c.Bool, parseBool, s)
	case DateTime, Date:
		tm, err := parseTime(s)
		if err == nil {
			appendTime(c, tm)
		}
		return err
	case Strings:
		if s == "" {
			c.List = append(c.List, noStrings)
		} else {
			c.List = append(c.List, []string{s})
		}
	}
	return nil
}

// appendParsed appends parse(s) to *dst, or returns parse's error.
func appendParsed[T any](dst *[]T, parse func(string) (T, error), s string) error {
	v, err := parse(s)
	if err == nil {
		*dst = append(*dst, v)
	}
	return err
}

// appendInt appends n converted to c's type.
func appendInt(c *Col, n int64) error {
	switch c.Type {
	case Int64:
		c.I64 = append(c.I64, n)
	case Int32:
		if n < math.MinInt32 || n > math.MaxInt32 {
			return fmt.Errorf("%d is out of range", n)
		}
		c.I32 = append(c.I32, int32(n))
	case Float64:
		c.F64 = append(c.F64, float64(n))
	case Bool:
		c.Bool = append(c.Bool, n != 0)
	case DateTime, Date:
		tm, err := epoch(float64(n))
		if err != nil {
			return err
		}
		appendTime(c, tm)
	default:
		return appendAny(c, n)
	}
	return nil
}

// appendTime appends tm to a DateTime or Date column (Date: the day).
func appendTime(c *Col, tm time.Time) {
	if c.Type == Date {
		tm = tm.Truncate(24 * time.Hour)
	}
	c.Time = append(c.Time, tm)
}
