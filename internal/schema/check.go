package schema

import (
	"fmt"
	"time"
)

// CheckRow reports whether r has one value per column, each of the Go type
// Convert gives for the column's type (string, int32, int64, float64, bool,
// time.Time, []string). Rows built by Map always pass; sinks check rows
// from elsewhere before they send them. The error is a *ColumnError.
func (t *Table) CheckRow(r Row) error {
	if len(r) != len(t.Columns) {
		return fmt.Errorf("table %s: row has %d values for %d columns", t.Name, len(r), len(t.Columns))
	}
	for i, c := range t.Columns {
		if !fits(c.Type, r[i]) {
			return &ColumnError{t.Name, c.Name, c.From, fmt.Errorf("%T is not a value of type %s", r[i], c.Type)}
		}
	}
	return nil
}

func fits(t Type, v any) bool {
	switch t {
	case String, JSON:
		_, ok := v.(string)
		return ok
	case Int32:
		_, ok := v.(int32)
		return ok
	case Int64:
		_, ok := v.(int64)
		return ok
	case Float64:
		_, ok := v.(float64)
		return ok
	case Bool:
		_, ok := v.(bool)
		return ok
	case DateTime, Date:
		_, ok := v.(time.Time)
		return ok
	case Strings:
		_, ok := v.([]string)
		return ok
	}
	return false
}
