package event

import (
	"math"

	"google.golang.org/protobuf/types/known/structpb"
)

// maxStructDepth bounds the nesting AppendStruct follows; deeper values are
// written as null. Decoders refuse far less deep input (protobuf's own
// recursion limit is 100), so this only guards a hand-built message.
const maxStructDepth = 100

// AppendStruct appends the JSON of s as protojson writes a
// google.protobuf.Struct: an object with its keys sorted, numbers in
// encoding/json's format, strings escaped as appendString does; "{}" for
// a nil Struct. A NaN or infinite number (which protojson refuses and JSON
// cannot hold) is written as null. It uses no reflection and allocates only
// the key order of objects with more than 16 keys.
func AppendStruct(b []byte, s *structpb.Struct) []byte {
	return appendStructDepth(b, s, 0)
}

func appendStructDepth(b []byte, s *structpb.Struct, depth int) []byte {
	f := s.GetFields()
	if len(f) == 0 {
		return append(b, "{}"...)
	}
	return appendObject(b, f, appendString, func(b []byte, v *structpb.Value) []byte {
		return appendStructValue(b, v, depth+1)
	})
}

func appendStructValue(b []byte, v *structpb.Value, depth int) []byte {
	if depth > maxStructDepth {
		return append(b, "null"...)
	}
	switch k := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		return appendString(b, k.StringValue)
	case *structpb.Value_NumberValue:
		if math.IsNaN(k.NumberValue) || math.IsInf(k.NumberValue, 0) {
			return append(b, "null"...)
		}
		return appendFloat(b, k.NumberValue, 64)
	case *structpb.Value_BoolValue:
		if k.BoolValue {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case *structpb.Value_StructValue:
		return appendStructDepth(b, k.StructValue, depth)
	case *structpb.Value_ListValue:
		b = append(b, '[')
		for i, e := range k.ListValue.GetValues() {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendStructValue(b, e, depth+1)
		}
		return append(b, ']')
	}
	return append(b, "null"...) // NullValue, or no kind set
}
