package event

import (
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
)

//go:generate go run ./internal/gen

// Type is an event type as a small number: TypeNone, or one per field of
// Event's eventOf oneof, in declaration order. It indexes per-type tables
// without hashing a name.
type Type uint8

// TypeNone is the Type of an event with no payload.
const TypeNone Type = 0

// NumTypes is the number of Type values, TypeNone included: a table
// indexed by Type has this length.
const NumTypes = numTypes

// String returns the type name ("LaunchEvent"), or "" for TypeNone.
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return ""
}

var byName = func() map[string]Type {
	m := make(map[string]Type, numTypes)
	for i, n := range typeNames {
		if i > 0 {
			m[n] = Type(i)
		}
	}
	return m
}()

// TypeByName returns the Type named name, or TypeNone.
func TypeByName(name string) Type { return byName[name] }

// Kind is the Go kind of a payload field's getter.
type Kind uint8

// The kinds of payload fields.
const (
	KindString  Kind = iota + 1 // string
	KindInt64                   // int64
	KindInt32                   // int32
	KindBool                    // bool
	KindFloat64                 // float64 (double)
	KindStrings                 // repeated string
	KindJSON                    // a message or repeated message, as protojson
)

// Field is the typed getter of one top-level payload field: the func of its
// Kind is set. The getters read the payload of an event of the field's type
// and return the zero value for an event of another type.
type Field struct {
	Kind    Kind
	String  func(*eventgrpcv1.Event) string
	Int64   func(*eventgrpcv1.Event) int64
	Int32   func(*eventgrpcv1.Event) int32
	Bool    func(*eventgrpcv1.Event) bool
	Float64 func(*eventgrpcv1.Event) float64
	Strings func(*eventgrpcv1.Event) []string
	// JSON appends the field's protojson to b; false when it is unset.
	JSON func(b []byte, e *eventgrpcv1.Event) ([]byte, bool)
}

// PayloadField returns the getter of the payload field (by proto name) of
// events of type t, and false when that type has no such field.
func PayloadField(t Type, field string) (Field, bool) {
	f, ok := payloadFields[t.String()+"."+field]
	return f, ok
}

// AppendParams appends the event_params JSON of ev to b: the payload as
// compact protojson with proto field names (what PayloadJSON returns), or,
// for a CustomEvent, its params as encoding/json writes a map[string]string
// (keys sorted; "null" when there are none). An event with no payload
// appends "{}". It neither allocates beyond b's growth nor uses reflection.
func AppendParams(b []byte, ev *eventgrpcv1.Event) []byte {
	if c, ok := ev.GetEventOf().(*eventgrpcv1.Event_CustomEvent); ok {
		return appendStringMap(b, c.CustomEvent.GetParams())
	}
	if ev == nil {
		return append(b, "{}"...)
	}
	return appendPayload(b, ev)
}

// appendKey appends a comma unless the object begun at n is still empty,
// then the quoted key and colon.
func appendKey(b []byte, n int, key string) []byte {
	if len(b) > n {
		b = append(b, ',')
	}
	return append(b, key...)
}

// appendString appends s as protojson does: '"', '\\' and control
// characters escaped, everything else (including '<', '>', '&' and
// non-ASCII) as is.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= ' ' && c != '"' && c != '\\' {
			continue
		}
		b = appendEscaped(append(b, s[start:i]...), c)
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendEscaped appends the JSON escape of the ASCII byte c, which both
// string encoders escape the same way: the short forms where JSON has
// them, else \u00XX.
func appendEscaped(b []byte, c byte) []byte {
	switch c {
	case '\b':
		return append(b, '\\', 'b')
	case '\f':
		return append(b, '\\', 'f')
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	case '"', '\\':
		return append(b, '\\', c)
	}
	return append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
}

const hex = "0123456789abcdef"

// appendFloat appends f as protojson does (encoding/json's number format;
// NaN and ±Inf as the strings "NaN", "Infinity", "-Infinity").
func appendFloat(b []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Infinity"`...)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendStringMap appends m as encoding/json marshals a map[string]string:
// "null" for a nil map, keys sorted, strings HTML-escaped.
func appendStringMap(b []byte, m map[string]string) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	return appendObject(b, m, appendGoJSONString, appendGoJSONString)
}

// appendObject appends m as a JSON object with its keys sorted, each key
// written by key and each value by value. It allocates only the key order
// of maps with more than 16 keys.
func appendObject[V any](b []byte, m map[string]V, key func([]byte, string) []byte, value func([]byte, V) []byte) []byte {
	var stack [16]string
	keys := stack[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(key(b, k), ':')
		b = value(b, m[k])
	}
	return append(b, '}')
}

// appendGoJSONString appends s as encoding/json does (HTML-safe, invalid
// UTF-8 as U+FFFD, U+2028 and U+2029 escaped).
func appendGoJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = appendEscaped(append(b, s[start:i]...), c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// HeaderField returns the getter of the request Header's field of that
// proto name ("userId"), and false when there is none.
func HeaderField(name string) (func(*eventgrpcv1.Header) string, bool) {
	f, ok := headerFields[name]
	return f, ok
}
