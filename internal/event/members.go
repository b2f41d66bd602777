package event

import (
	"math"
	"strconv"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
)

// The payload encoders are tables (params_gen.go): per message type, its
// members in declaration order. A member writes one field of a message of
// type M into the message's JSON object as protojson does: its key and
// value, or nothing when the field is unset (protojson, EmitUnpopulated
// false, leaves those out). n is where the object's members begin, for
// the comma. A member reads the field through its generated getter, which
// takes a nil message.
type member[M any] func(b []byte, n int, m *M) []byte

// appendMessage appends m as the JSON object of its members; a nil m is the
// empty object.
func appendMessage[M any](b []byte, m *M, members []member[M]) []byte {
	b = append(b, '{')
	if m != nil {
		n := len(b)
		for _, w := range members {
			b = w(b, n, m)
		}
	}
	return append(b, '}')
}

// messageOf is the writer of messages of type M.
func messageOf[M any](members []member[M]) func([]byte, *M) []byte {
	return func(b []byte, m *M) []byte { return appendMessage(b, m, members) }
}

// scalarMember is the member of a singular field (key `"name":`) that is unset
// when it holds its type's zero.
func scalarMember[M any, V comparable](key string, get func(*M) V, write func([]byte, V) []byte) member[M] {
	return func(b []byte, n int, m *M) []byte {
		var zero V
		if v := get(m); v != zero {
			b = write(appendKey(b, n, key), v)
		}
		return b
	}
}

// floatMember is the member of a float or double field: unset when its bits are
// all zero (so -0 is written).
func floatMember[M any, F float32 | float64](key string, get func(*M) F, write func([]byte, F) []byte) member[M] {
	return func(b []byte, n int, m *M) []byte {
		if v := get(m); v != 0 || math.Signbit(float64(v)) {
			b = write(appendKey(b, n, key), v)
		}
		return b
	}
}

// objectMember is the member of a message field: unset when nil.
func objectMember[M, S any](key string, get func(*M) *S, write func([]byte, *S) []byte) member[M] {
	return func(b []byte, n int, m *M) []byte {
		if v := get(m); v != nil {
			b = write(appendKey(b, n, key), v)
		}
		return b
	}
}

// listMember is the member of a repeated field: unset when empty.
func listMember[M, V any](key string, get func(*M) []V, write func([]byte, V) []byte) member[M] {
	return func(b []byte, n int, m *M) []byte {
		v := get(m)
		if len(v) == 0 {
			return b
		}
		b = append(appendKey(b, n, key), '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = write(b, e)
		}
		return append(b, ']')
	}
}

// valueOf is the JSON getter of a payload field (Field.JSON) whose member
// is w (with an empty key) in the payload got by payload: the field's JSON
// value, and false when it is unset.
func valueOf[M any](payload func(*eventgrpcv1.Event) *M, w member[M]) func([]byte, *eventgrpcv1.Event) ([]byte, bool) {
	return func(b []byte, e *eventgrpcv1.Event) ([]byte, bool) {
		n := len(b)
		b = w(b, n, payload(e))
		return b, len(b) > n
	}
}

// The writers of single values of the scalar kinds, in protojson's form:
// 64-bit integers as JSON strings, floats as appendFloat writes them.
func appendInt64(b []byte, v int64) []byte {
	return append(strconv.AppendInt(append(b, '"'), v, 10), '"')
}
func appendUint64(b []byte, v uint64) []byte {
	return append(strconv.AppendUint(append(b, '"'), v, 10), '"')
}
func appendInt32(b []byte, v int32) []byte     { return strconv.AppendInt(b, int64(v), 10) }
func appendUint32(b []byte, v uint32) []byte   { return strconv.AppendUint(b, uint64(v), 10) }
func appendBool(b []byte, v bool) []byte       { return strconv.AppendBool(b, v) }
func appendDouble(b []byte, v float64) []byte  { return appendFloat(b, v, 64) }
func appendFloat32(b []byte, v float32) []byte { return appendFloat(b, float64(v), 32) }
