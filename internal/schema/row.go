package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrMissing is the cause when a required column has no value.
var ErrMissing = errors.New("required field missing")

// ColumnError names the column whose value did not fit.
type ColumnError struct {
	Table, Column, From string
	Err                 error
}

func (e *ColumnError) Error() string {
	return fmt.Sprintf("%s.%s (from %s): %v", e.Table, e.Column, e.From, e.Err)
}
func (e *ColumnError) Unwrap() error { return e.Err }

// Zero is the value an absent optional column takes.
func Zero(t Type) any {
	switch t {
	case Int32:
		return int32(0)
	case Int64:
		return int64(0)
	case Float64:
		return float64(0)
	case Bool:
		return false
	case DateTime, Date:
		return time.Unix(0, 0).UTC()
	case JSON:
		return "{}"
	case Strings:
		return []string{}
	}
	return ""
}

// Convert turns a decoded value (from JSON, protobuf or a header) into the
// Go value the sinks write for a column of type t: string, int32, int64,
// float64, bool, time.Time (UTC) or []string.
func Convert(t Type, v any) (any, error) {
	switch t {
	case String:
		return toString(v)
	case Int64:
		return toInt(v, math.MinInt64, math.MaxInt64)
	case Int32:
		n, err := toInt(v, math.MinInt32, math.MaxInt32)
		return int32(n), err
	case Float64:
		return toFloat(v)
	case Bool:
		return toBool(v)
	case DateTime, Date:
		tm, err := toTime(v)
		if err == nil && t == Date {
			tm = tm.Truncate(24 * time.Hour)
		}
		return tm, err
	case JSON:
		return toJSON(v)
	case Strings:
		return toStrings(v)
	}
	return nil, fmt.Errorf("unknown column type %q", t)
}

func toString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case []byte:
		return string(x), nil
	case json.RawMessage:
		return string(x), nil
	case json.Number:
		return x.String(), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), nil
	case map[string]any, []any:
		b, err := json.Marshal(x)
		return string(b), err
	}
	return fmt.Sprint(v), nil // integers in decimal, booleans as true/false
}

func toInt(v any, lo, hi int64) (int64, error) {
	var n int64
	switch x := v.(type) {
	case int64:
		n = x
	case int32:
		n = int64(x)
	case int:
		n = int64(x)
	case uint32:
		n = int64(x)
	case uint64:
		if x > math.MaxInt64 {
			return 0, fmt.Errorf("%d is out of range", x)
		}
		n = int64(x)
	case float64:
		if x != math.Trunc(x) || x < -9.2e18 || x > 9.2e18 {
			return 0, fmt.Errorf("%v is not an integer", x)
		}
		n = int64(x)
	case json.Number:
		i, err := x.Int64()
		if err != nil {
			f, ferr := x.Float64()
			if ferr != nil || f != math.Trunc(f) {
				return 0, fmt.Errorf("%q is not an integer", x.String())
			}
			i = int64(f)
		}
		n = i
	case string:
		i, err := parseInt(x)
		if err != nil {
			return 0, err
		}
		n = i
	case bool:
		if x {
			n = 1
		}
	default:
		return 0, fmt.Errorf("%T is not an integer", v)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d is out of range", n)
	}
	return n, nil
}

func toFloat(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case int32:
		return float64(x), nil
	case int:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return 0, fmt.Errorf("%q is not a number", x.String())
		}
		return f, nil
	case string:
		return parseFloat(x)
	}
	return 0, fmt.Errorf("%T is not a number", v)
}

func toBool(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		return parseBool(x)
	}
	n, err := toInt(v, math.MinInt64, math.MaxInt64)
	if err != nil {
		return false, fmt.Errorf("%v is not a boolean", v)
	}
	return n != 0, nil
}

// Epochs above this are milliseconds (year 5138 in seconds).
const msThreshold = 1e11

func toTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x.UTC(), nil
	case string:
		return parseTime(x)
	}
	f, err := toFloat(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%v is not a time", v)
	}
	return epoch(f)
}

// maxEpochMillis is the last millisecond of the year 9999: later epochs
// are not times any store holds.
const maxEpochMillis = 253402300799999

// epoch turns epoch seconds (or milliseconds, from msThreshold up) into a
// time. Numbers that cannot be times — NaN, ±Inf, negative, beyond the
// year 9999 — are refused with the reason, never wrapped into an
// overflowed time.
func epoch(f float64) (time.Time, error) {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return time.Time{}, fmt.Errorf("%v is not a time", f)
	case f < 0:
		return time.Time{}, fmt.Errorf("%v is not a time: epochs before 1970 are refused", f)
	case f > maxEpochMillis:
		return time.Time{}, fmt.Errorf("%v is not a time: beyond the year 9999 even as epoch milliseconds", f)
	case f >= msThreshold:
		return time.UnixMilli(int64(f)).UTC(), nil
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

func toJSON(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return jsonText(x)
	case []byte:
		if json.Valid(x) {
			return string(x), nil
		}
		return "", errors.New("not valid JSON")
	case json.RawMessage:
		return string(x), nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

func toStrings(v any) ([]string, error) {
	switch x := v.(type) {
	case []string:
		return x, nil
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			s, err := toString(e)
			if err != nil {
				return nil, err
			}
			out[i] = s
		}
		return out, nil
	case string:
		if x == "" {
			return []string{}, nil
		}
		return []string{x}, nil
	}
	return nil, fmt.Errorf("%T is not a list of strings", v)
}

// The parsers of text, which Convert (for a string) and appendStr share.

// parseInt parses a decimal integer, surrounding space allowed; blank text
// is 0.
func parseInt(s string) (int64, error) {
	return parseNumber(s, "an integer", func(t string) (int64, error) { return strconv.ParseInt(t, 10, 64) })
}

// parseFloat parses a number, surrounding space allowed; blank text is 0.
func parseFloat(s string) (float64, error) {
	return parseNumber(s, "a number", func(t string) (float64, error) { return strconv.ParseFloat(t, 64) })
}

func parseNumber[T int64 | float64](s, what string, parse func(string) (T, error)) (T, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, nil
	}
	n, err := parse(t)
	if err != nil {
		return 0, fmt.Errorf("%q is not %s", s, what)
	}
	return n, nil
}

// parseBool parses true/false, 1/0, yes/no, t/f in any case, surrounding
// space allowed; blank text is false.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes", "t":
		return true, nil
	case "false", "0", "no", "f", "":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean", s)
}

// parseTime parses RFC 3339 (or its variants with a space, without a zone,
// or a date alone) or epoch seconds/milliseconds, surrounding space
// allowed; blank text is the epoch.
func parseTime(x string) (time.Time, error) {
	s := strings.TrimSpace(x)
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return epoch(f)
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999Z0700", "2006-01-02 15:04:05.999999999Z0700", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time (want RFC 3339, 'YYYY-MM-DD hh:mm:ss' or epoch seconds/milliseconds)", x)
}

// jsonText returns s when it is JSON, else s as a JSON string.
func jsonText(s string) (string, error) {
	if json.Valid([]byte(s)) {
		return s, nil
	}
	b, err := json.Marshal(s)
	return string(b), err
}

// JSONKind names the kind of a decoded JSON value (decoded with UseNumber)
// for messages: "null", "a string", "a number", "a boolean", "an array";
// other values (an object) by their Go type.
func JSONKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}
