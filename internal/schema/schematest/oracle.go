// Package schematest is the row-at-a-time oracle of package schema, for
// tests only: Map resolves each column's From by walking its source and
// converts the value with schema.Convert, row by row, into boxed Rows. The
// service never maps this way (it compiles each table's columns once and
// appends typed values to a columnar schema.Batch); tests compare the
// compiled rows with this reference, and build batches from literal rows.
package schematest

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/event-grpc/event-grpc/internal/schema"
)

// Row is one row in the table's column order: string, int32, int64,
// float64, bool, time.Time or []string, as schema.Convert gives them.
type Row []any

// Source resolves a column's From to a value. ok is false when the source
// has no value there (the column is then required or zero).
type Source interface {
	Lookup(from string) (v any, ok bool)
}

// Map builds the table's row from src, converting each value to its column
// type. The error is a *schema.ColumnError for the first column that
// failed. A From may list alternatives separated by "|", tried in order
// until one has a value; a "const:" alternative takes the rest of the
// From, "|" and all.
func Map(t *schema.Table, src Source) (Row, error) {
	row := make(Row, len(t.Columns))
	for i, c := range t.Columns {
		v, ok := lookup(src, c.From)
		if !ok || v == nil {
			if c.Required {
				return nil, &schema.ColumnError{Table: t.Name, Column: c.Name, From: c.From, Err: schema.ErrMissing}
			}
			row[i] = schema.Zero(c.Type)
			continue
		}
		cv, err := schema.Convert(c.Type, v)
		if err != nil {
			return nil, &schema.ColumnError{Table: t.Name, Column: c.Name, From: c.From, Err: err}
		}
		row[i] = cv
	}
	return row, nil
}

// lookup resolves a From with its "|" alternatives.
func lookup(src Source, from string) (any, bool) {
	for {
		if strings.HasPrefix(from, "const:") {
			return src.Lookup(from)
		}
		first, rest, more := strings.Cut(from, "|")
		if v, ok := src.Lookup(first); ok && v != nil {
			return v, true
		}
		if !more {
			return nil, false
		}
		from = rest
	}
}

// JSONSource resolves From paths against a decoded JSON object (decoded
// with UseNumber) and the message's headers:
//
//	$.a.b      the field b of the object a (array elements by index: $.a.0)
//	$          the whole document, re-encoded
//	header:x   the message header x
//	meta.x     the value the handler supplies in Meta["x"] (insert_time,
//	           message_id)
//	const:v    the literal v
type JSONSource struct {
	Doc     map[string]any
	Headers map[string]string
	Meta    map[string]any
}

// Lookup implements Source.
func (s JSONSource) Lookup(from string) (any, bool) {
	switch {
	case from == "$":
		return map[string]any(s.Doc), true
	case strings.HasPrefix(from, "$."):
		return Path(s.Doc, from[2:])
	case strings.HasPrefix(from, "header:"):
		v, ok := s.Headers[from[len("header:"):]]
		return v, ok
	case strings.HasPrefix(from, "meta."):
		v, ok := s.Meta[from[len("meta."):]]
		return v, ok
	case strings.HasPrefix(from, "const:"):
		return from[len("const:"):], true
	}
	return nil, false
}

// Path walks a dot path through decoded JSON.
func Path(doc map[string]any, path string) (any, bool) {
	var cur any = doc
	for part := range strings.SplitSeq(path, ".") {
		switch x := cur.(type) {
		case map[string]any:
			v, ok := x[part]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			cur = x[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// CheckRow reports whether r has one value per column of t, each of the Go
// type schema.Convert gives for the column's type. The error is a
// *schema.ColumnError.
func CheckRow(t *schema.Table, r Row) error {
	if len(r) != len(t.Columns) {
		return fmt.Errorf("table %s: row has %d values for %d columns", t.Name, len(r), len(t.Columns))
	}
	for i, c := range t.Columns {
		if !fits(c.Type, r[i]) {
			return &schema.ColumnError{Table: t.Name, Column: c.Name, From: c.From, Err: fmt.Errorf("%T is not a value of type %s", r[i], c.Type)}
		}
	}
	return nil
}

func fits(t schema.Type, v any) bool {
	switch t {
	case schema.String, schema.JSON:
		return is[string](v)
	case schema.Int32:
		return is[int32](v)
	case schema.Int64:
		return is[int64](v)
	case schema.Float64:
		return is[float64](v)
	case schema.Bool:
		return is[bool](v)
	case schema.DateTime, schema.Date:
		return is[time.Time](v)
	case schema.Strings:
		return is[[]string](v)
	}
	return false
}

func is[T any](v any) bool {
	_, ok := v.(T)
	return ok
}

// Value returns row i of c boxed, as schema.Convert gives it.
func Value(c *schema.Col, i int) any {
	switch c.Type {
	case schema.String, schema.JSON:
		return c.Str[i]
	case schema.Int32:
		return c.I32[i]
	case schema.Int64:
		return c.I64[i]
	case schema.Float64:
		return c.F64[i]
	case schema.Bool:
		return c.Bool[i]
	case schema.DateTime, schema.Date:
		return c.Time[i]
	case schema.Strings:
		return c.List[i]
	}
	return nil
}

// RowOf returns row i of b as a Row.
func RowOf(b *schema.Batch, i int) Row {
	r := make(Row, len(b.Cols))
	for c := range b.Cols {
		r[c] = Value(&b.Cols[c], i)
	}
	return r
}

// BatchOf returns a batch of t holding rows, each checked with CheckRow
// (the error names the row and the column).
func BatchOf(t *schema.Table, rows []Row) (*schema.Batch, error) {
	b := schema.NewBatch(t)
	for i, r := range rows {
		if err := AppendRow(b, r); err != nil {
			return nil, fmt.Errorf("row %d: %w", i, err)
		}
	}
	return b, nil
}

// AppendRow appends r to b, or nothing and the error of CheckRow.
func AppendRow(b *schema.Batch, r Row) error {
	if err := CheckRow(b.Table, r); err != nil {
		return err
	}
	return rowMapper(b.Table).Append(b, r)
}

// rowMapper compiles a mapper that takes column i from a Row's value i
// (each From replaced by the column's index, so no const: or alternatives
// apply).
func rowMapper(t *schema.Table) *schema.Mapper[Row] {
	idx := *t
	idx.Columns = make([]schema.Column, len(t.Columns))
	for i, c := range t.Columns {
		c.From = strconv.Itoa(i)
		idx.Columns[i] = c
	}
	m, err := schema.Compile(&idx, func(from string, _ schema.Column) (schema.Getter[Row], error) {
		i, _ := strconv.Atoi(from)
		return func(r Row, _ *schema.Batch, c *schema.Col) (bool, error) {
			switch v := r[i].(type) {
			case string:
				c.Str = append(c.Str, v)
			case int32:
				c.I32 = append(c.I32, v)
			case int64:
				c.I64 = append(c.I64, v)
			case float64:
				c.F64 = append(c.F64, v)
			case bool:
				c.Bool = append(c.Bool, v)
			case time.Time:
				c.Time = append(c.Time, v)
			case []string:
				c.List = append(c.List, v)
			}
			return true, nil
		}, nil
	})
	if err != nil {
		panic(err) // an index From always resolves
	}
	return m
}
