package schema

import (
	"strconv"
	"time"
	"unsafe"
)

// Col is one column of a Batch: the slice of its type holds one value per
// row (String and JSON in Str, Int32 in I32, Int64 in I64, Float64 in F64,
// Bool in Bool, DateTime and Date in Time, Strings in List); the others
// stay empty.
type Col struct {
	Type Type
	Str  []string
	I32  []int32
	I64  []int64
	F64  []float64
	Bool []bool
	Time []time.Time
	List [][]string
}

// Len returns the number of values in c.
func (c *Col) Len() int {
	switch c.Type {
	case String, JSON:
		return len(c.Str)
	case Int32:
		return len(c.I32)
	case Int64:
		return len(c.I64)
	case Float64:
		return len(c.F64)
	case Bool:
		return len(c.Bool)
	case DateTime, Date:
		return len(c.Time)
	case Strings:
		return len(c.List)
	}
	return 0
}

func (c *Col) truncate(n int) {
	switch c.Type {
	case String, JSON:
		c.Str = c.Str[:n]
	case Int32:
		c.I32 = c.I32[:n]
	case Int64:
		c.I64 = c.I64[:n]
	case Float64:
		c.F64 = c.F64[:n]
	case Bool:
		c.Bool = c.Bool[:n]
	case DateTime, Date:
		c.Time = c.Time[:n]
	case Strings:
		c.List = c.List[:n]
	}
}

// appendZero appends the type's zero (see Zero).
func (c *Col) appendZero() {
	switch c.Type {
	case String:
		c.Str = append(c.Str, "")
	case JSON:
		c.Str = append(c.Str, "{}")
	case Int32:
		c.I32 = append(c.I32, 0)
	case Int64:
		c.I64 = append(c.I64, 0)
	case Float64:
		c.F64 = append(c.F64, 0)
	case Bool:
		c.Bool = append(c.Bool, false)
	case DateTime, Date:
		c.Time = append(c.Time, epoch0)
	case Strings:
		c.List = append(c.List, noStrings)
	}
}

// noStrings is the empty list (not nil: a NULL to some drivers).
var noStrings = []string{}

var epoch0 = time.Unix(0, 0).UTC()

// appendValue appends v, a value of the Go type Convert gives for the
// column's type; false when it is not.
func (c *Col) appendValue(v any) bool {
	switch x := v.(type) {
	case string:
		return appendIf(&c.Str, c.Type == String || c.Type == JSON, x)
	case int32:
		return appendIf(&c.I32, c.Type == Int32, x)
	case int64:
		return appendIf(&c.I64, c.Type == Int64, x)
	case float64:
		return appendIf(&c.F64, c.Type == Float64, x)
	case bool:
		return appendIf(&c.Bool, c.Type == Bool, x)
	case time.Time:
		return appendIf(&c.Time, c.Type == DateTime || c.Type == Date, x)
	case []string:
		return appendIf(&c.List, c.Type == Strings, x)
	}
	return false
}

// appendIf appends v to *s when ok, and returns ok.
func appendIf[T any](s *[]T, ok bool, v T) bool {
	if ok {
		*s = append(*s, v)
	}
	return ok
}

// Batch is a columnar batch of rows of one table: one typed slice per
// column, all of length Len. A Batch is reused: Reset keeps the slices'
// capacity. The strings of a batch may point into its own arena, so they
// are valid until the next Reset; a sink copies what it keeps. A Batch is
// not safe for concurrent use.
type Batch struct {
	Table *Table
	Cols  []Col
	n     int
	arena []byte
}

// NewBatch returns an empty batch of t.
func NewBatch(t *Table) *Batch {
	b := &Batch{Table: t, Cols: make([]Col, len(t.Columns))}
	for i, c := range t.Columns {
		b.Cols[i].Type = c.Type
	}
	return b
}

// Len returns the number of rows.
func (b *Batch) Len() int { return b.n }

// Reset empties b, keeping its memory. The strings it held are let go
// (their slots cleared), so the arenas and message bytes they pointed
// into are not kept alive by a batch waiting for reuse.
func (b *Batch) Reset() {
	for i := range b.Cols {
		c := &b.Cols[i]
		clear(c.Str)
		clear(c.List)
		c.truncate(0)
	}
	b.n = 0
	b.arena = b.arena[:0]
}

// rollback drops a row that was partly appended.
func (b *Batch) rollback() {
	for i := range b.Cols {
		b.Cols[i].truncate(b.n)
	}
}

// arenaChunk is the size of the arena's chunks: strings built per row (JSON
// params) are cut from them instead of allocated one by one.
const arenaChunk = 64 << 10

// String returns p as a string that lives in b's arena (valid until Reset).
func (b *Batch) String(p []byte) string {
	if len(p) == 0 {
		return ""
	}
	if cap(b.arena)-len(b.arena) < len(p) {
		// A new chunk; strings cut from the old one keep it alive.
		b.arena = make([]byte, 0, max(arenaChunk, len(p)))
	}
	start := len(b.arena)
	b.arena = append(b.arena, p...)
	return unsafe.String(&b.arena[start], len(p))
}

// Slice returns the rows [lo, hi) of b as a batch sharing b's memory (for
// writing part of a batch); it must not be appended to.
func (b *Batch) Slice(lo, hi int) *Batch {
	out := &Batch{Table: b.Table, Cols: make([]Col, len(b.Cols)), n: hi - lo}
	for i, c := range b.Cols {
		oc := Col{Type: c.Type}
		switch c.Type {
		case String, JSON:
			oc.Str = c.Str[lo:hi:hi]
		case Int32:
			oc.I32 = c.I32[lo:hi:hi]
		case Int64:
			oc.I64 = c.I64[lo:hi:hi]
		case Float64:
			oc.F64 = c.F64[lo:hi:hi]
		case Bool:
			oc.Bool = c.Bool[lo:hi:hi]
		case DateTime, Date:
			oc.Time = c.Time[lo:hi:hi]
		case Strings:
			oc.List = c.List[lo:hi:hi]
		}
		out.Cols[i] = oc
	}
	return out
}

// Select returns the rows idx of b, in that order, as a new batch.
func (b *Batch) Select(idx []int) *Batch {
	out := NewBatch(b.Table)
	for _, i := range idx {
		for ci := range b.Cols {
			c, oc := &b.Cols[ci], &out.Cols[ci]
			switch c.Type {
			case String, JSON:
				oc.Str = append(oc.Str, c.Str[i])
			case Int32:
				oc.I32 = append(oc.I32, c.I32[i])
			case Int64:
				oc.I64 = append(oc.I64, c.I64[i])
			case Float64:
				oc.F64 = append(oc.F64, c.F64[i])
			case Bool:
				oc.Bool = append(oc.Bool, c.Bool[i])
			case DateTime, Date:
				oc.Time = append(oc.Time, c.Time[i])
			case Strings:
				oc.List = append(oc.List, c.List[i])
			}
		}
		out.n++
	}
	return out
}

// unsafeString returns p as a string sharing its memory; p must not change
// afterwards (arena bytes do not until Reset).
func unsafeString(p []byte) string {
	if len(p) == 0 {
		return ""
	}
	return unsafe.String(&p[0], len(p))
}

// Truncate drops the rows from n on (n ≤ Len).
func (b *Batch) Truncate(n int) {
	if n >= b.n {
		return
	}
	b.n = n
	b.rollback()
}

// AppendBatch appends the rows of o (a batch of the same table) to b. The
// strings are not copied: b's rows point into o's memory, so o must stay
// unchanged (not Reset, not appended to) for as long as b holds them.
func (b *Batch) AppendBatch(o *Batch) {
	for i := range b.Cols {
		c, oc := &b.Cols[i], &o.Cols[i]
		switch c.Type {
		case String, JSON:
			c.Str = append(c.Str, oc.Str...)
		case Int32:
			c.I32 = append(c.I32, oc.I32...)
		case Int64:
			c.I64 = append(c.I64, oc.I64...)
		case Float64:
			c.F64 = append(c.F64, oc.F64...)
		case Bool:
			c.Bool = append(c.Bool, oc.Bool...)
		case DateTime, Date:
			c.Time = append(c.Time, oc.Time...)
		case Strings:
			c.List = append(c.List, oc.List...)
		}
	}
	b.n += o.n
}

// Bytes estimates the memory b's values take: the bytes of its strings
// plus eight per other value (a bound for batching, not an exact count).
func (b *Batch) Bytes() int {
	n := 0
	for i := range b.Cols {
		c := &b.Cols[i]
		switch c.Type {
		case String, JSON:
			for _, s := range c.Str {
				n += len(s) + 16
			}
		case Strings:
			for _, l := range c.List {
				for _, s := range l {
					n += len(s) + 16
				}
				n += 24
			}
		default:
			n += 8 * c.Len()
		}
	}
	return n
}

// AppendKey appends to dst the values of row i in the columns cols, each
// followed by a zero byte: rows with equal keys give equal bytes (for
// deduplicating a batch by its unique key without boxing a value).
func (b *Batch) AppendKey(dst []byte, i int, cols []int) []byte {
	for _, ci := range cols {
		c := &b.Cols[ci]
		switch c.Type {
		case String, JSON:
			dst = append(dst, c.Str[i]...)
		case Int32:
			dst = strconv.AppendInt(dst, int64(c.I32[i]), 10)
		case Int64:
			dst = strconv.AppendInt(dst, c.I64[i], 10)
		case Float64:
			dst = strconv.AppendFloat(dst, c.F64[i], 'g', -1, 64)
		case Bool:
			dst = strconv.AppendBool(dst, c.Bool[i])
		case DateTime, Date:
			dst = strconv.AppendInt(dst, c.Time[i].UnixNano(), 10)
		case Strings:
			for _, s := range c.List[i] {
				dst = append(dst, s...)
				dst = append(dst, 1)
			}
		}
		dst = append(dst, 0)
	}
	return dst
}

// IsZero reports whether row i of column c holds its type's zero (the
// value an absent optional column takes, see Zero).
func (b *Batch) IsZero(c, i int) bool {
	col := &b.Cols[c]
	switch col.Type {
	case String:
		return col.Str[i] == ""
	case JSON:
		return col.Str[i] == "{}"
	case Int32:
		return col.I32[i] == 0
	case Int64:
		return col.I64[i] == 0
	case Float64:
		return col.F64[i] == 0
	case Bool:
		return !col.Bool[i]
	case DateTime, Date:
		return col.Time[i].Equal(epoch0)
	case Strings:
		return len(col.List[i]) == 0
	}
	return true
}

// Set sets row i of column c to row j of the same column of o (a batch of
// the same table).
func (b *Batch) Set(c, i int, o *Batch, j int) {
	dst, src := &b.Cols[c], &o.Cols[c]
	switch dst.Type {
	case String, JSON:
		dst.Str[i] = src.Str[j]
	case Int32:
		dst.I32[i] = src.I32[j]
	case Int64:
		dst.I64[i] = src.I64[j]
	case Float64:
		dst.F64[i] = src.F64[j]
	case Bool:
		dst.Bool[i] = src.Bool[j]
	case DateTime, Date:
		dst.Time[i] = src.Time[j]
	case Strings:
		dst.List[i] = src.List[j]
	}
}
