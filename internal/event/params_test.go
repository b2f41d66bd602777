package event

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
)

// edgeStrings, edgeInts and edgeFloats are the values the profiles fill
// fields with: empty, escapes, unicode, HTML characters, extremes.
var (
	edgeStrings = []string{"", "plain", "é日本語🎉", `quote " backslash \ slash /`, "ctl \x00\x01\x1f\x7f \b\f\n\r\t", "<script>&amp;</script>", "line\u2028sep\u2029", "\ufffd"}
	edgeInts    = []int64{0, 1, -1, math.MaxInt64, math.MinInt64, 1 << 53, -(1 << 53) - 1, math.MaxInt32, math.MinInt32}
	edgeFloats  = []float64{0, math.Copysign(0, -1), 1.5, -2.25, 1e-7, 1e-6, 1e20, 1e21, 1e300, -1e-300, math.MaxFloat64, math.SmallestNonzeroFloat64, math.NaN(), math.Inf(1), math.Inf(-1), 0.1 + 0.2}
)

// fill sets every field of m from the profile: k picks the edge value.
func fill(m protoreflect.Message, k int, r *rand.Rand) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		pick := k + i
		if r != nil {
			pick = r.IntN(1 << 20)
		}
		switch {
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for j := range pick % 4 {
				mp.Set(protoreflect.ValueOfString(edgeStrings[(pick+j)%len(edgeStrings)]+string(rune('a'+j))).MapKey(),
					protoreflect.ValueOfString(edgeStrings[(pick+2*j)%len(edgeStrings)]))
			}
		case fd.IsList():
			l := m.Mutable(fd).List()
			for j := range pick % 4 {
				if fd.Message() != nil {
					e := l.NewElement()
					fill(e.Message(), pick+j, r)
					l.Append(e)
				} else {
					l.Append(scalar(fd, pick+j))
				}
			}
		case fd.Message() != nil && fd.Message().FullName() == "google.protobuf.Struct":
			if pick%3 != 0 {
				m.Set(fd, protoreflect.ValueOfMessage(edgeStruct(pick).ProtoReflect()))
			}
		case fd.Message() != nil:
			if pick%3 != 0 {
				fill(m.Mutable(fd).Message(), pick, r)
			}
		default:
			m.Set(fd, scalar(fd, pick))
		}
	}
}

// edgeStruct is a free-form object (a generic event's properties) of the
// edge values JSON can hold: every kind, nested, keys with escapes and
// unicode. protojson refuses NaN and infinities in a Struct, so only the
// finite floats are used.
func edgeStruct(k int) *structpb.Struct {
	s := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	var finite []float64
	for _, f := range edgeFloats {
		if !math.IsNaN(f) && !math.IsInf(f, 0) {
			finite = append(finite, f)
		}
	}
	for j := range 2 + k%20 {
		key := edgeStrings[(k+j)%len(edgeStrings)] + string(rune('a'+j))
		var v *structpb.Value
		switch (k + j) % 6 {
		case 0:
			v = structpb.NewStringValue(edgeStrings[(k+2*j)%len(edgeStrings)])
		case 1:
			v = structpb.NewNumberValue(finite[(k+j)%len(finite)])
		case 2:
			v = structpb.NewBoolValue(j%2 == 0)
		case 3:
			v = structpb.NewNullValue()
		case 4:
			v = structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{
				structpb.NewNumberValue(finite[j%len(finite)]), structpb.NewStringValue("日本"), structpb.NewBoolValue(true),
				structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"z": structpb.NewNullValue(), "a": structpb.NewNumberValue(-2.25)}}),
			}})
		default:
			v = structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
				"nested": structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"deep": structpb.NewStringValue(key)}}),
				"empty":  structpb.NewStructValue(&structpb.Struct{}),
				"list":   structpb.NewListValue(&structpb.ListValue{}),
			}})
		}
		s.Fields[key] = v
	}
	return s
}

func scalar(fd protoreflect.FieldDescriptor, k int) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(edgeStrings[k%len(edgeStrings)])
	case protoreflect.Int64Kind:
		return protoreflect.ValueOfInt64(edgeInts[k%len(edgeInts)])
	case protoreflect.Int32Kind:
		return protoreflect.ValueOfInt32(int32(edgeInts[k%len(edgeInts)]))
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(k%2 == 1)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(edgeFloats[k%len(edgeFloats)])
	}
	panic("test: kind " + fd.Kind().String() + " not covered; add it to the profiles")
}

// events returns, for every type of the proto, events with its payload
// unset (a nil message), empty, and filled by several profiles.
func events(t *testing.T) map[string][]*eventgrpcv1.Event {
	out := map[string][]*eventgrpcv1.Event{}
	fields := eventOf.Fields()
	r := rand.New(rand.NewPCG(1, 2))
	for i := range fields.Len() {
		fd := fields.Get(i)
		name := string(fd.Message().Name())
		mk := func(set func(protoreflect.Message)) *eventgrpcv1.Event {
			ev := &eventgrpcv1.Event{Id: "x"}
			p := ev.ProtoReflect().NewField(fd).Message()
			set(p)
			ev.ProtoReflect().Set(fd, protoreflect.ValueOfMessage(p))
			return ev
		}
		out[name] = append(out[name], mk(func(protoreflect.Message) {}))
		for k := range 24 {
			out[name] = append(out[name], mk(func(p protoreflect.Message) { fill(p, k, nil) }))
		}
		for range 24 {
			out[name] = append(out[name], mk(func(p protoreflect.Message) { fill(p, 0, r) }))
		}
	}
	if len(out) != fields.Len() || len(out) != NumTypes-1 {
		t.Fatalf("%d types covered, the proto has %d", len(out), fields.Len())
	}
	return out
}

// TestAppendParamsIsProtojson holds the generated encoders to protojson's
// output (PayloadJSON) for every event type of the proto, and CustomEvent
// to encoding/json's map encoding, as event_params was written before.
func TestAppendParamsIsProtojson(t *testing.T) {
	for name, evs := range events(t) {
		t.Run(name, func(t *testing.T) {
			for i, ev := range evs {
				got := string(AppendParams(nil, ev))
				var want []byte
				var err error
				if c := ev.GetCustomEvent(); c != nil {
					want, err = json.Marshal(c.GetParams())
				} else {
					want, err = PayloadJSON(ev)
				}
				if err != nil {
					t.Fatal(err)
				}
				if got != string(want) {
					t.Fatalf("event %d (%v):\n got %s\nwant %s", i, ev, got, want)
				}
			}
		})
	}
	// A payload oneof holding a nil message goes over the wire as an empty one.
	nilPayload := &eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_LaunchEvent{}}
	if got := string(AppendParams(nil, nilPayload)); got != "{}" {
		t.Errorf("nil payload: %s, want {}", got)
	}
	if got := string(AppendParams(nil, &eventgrpcv1.Event{})); got != "{}" {
		t.Errorf("no payload: %s, want {}", got)
	}
}

func TestTypeOf(t *testing.T) {
	for name, evs := range events(t) {
		ty := TypeOf(evs[0])
		if ty.String() != name || TypeByName(name) != ty {
			t.Errorf("TypeOf(%s event) = %d %q", name, ty, ty)
		}
		if n, err := Name(evs[0]); err != nil || n != name {
			t.Errorf("Name = %q, %v; want %q", n, err, name)
		}
	}
	if TypeOf(nil) != TypeNone || TypeOf(&eventgrpcv1.Event{}) != TypeNone || TypeByName("Nope") != TypeNone {
		t.Error("TypeNone expected")
	}
}

// TestPayloadFields checks every generated getter against protoreflect.
func TestPayloadFields(t *testing.T) {
	n := 0
	for name, evs := range events(t) {
		ty := TypeByName(name)
		for _, ev := range evs {
			p := ev.ProtoReflect().Get(ev.ProtoReflect().WhichOneof(eventOf)).Message()
			fields := p.Descriptor().Fields()
			for i := range fields.Len() {
				fd := fields.Get(i)
				f, ok := PayloadField(ty, string(fd.Name()))
				if fd.IsMap() {
					continue
				}
				if !ok {
					t.Fatalf("%s.%s has no getter", name, fd.Name())
				}
				n++
				v := p.Get(fd)
				var same bool
				switch f.Kind {
				case KindString:
					same = f.String(ev) == v.String()
				case KindInt64:
					same = f.Int64(ev) == v.Int()
				case KindInt32:
					same = int64(f.Int32(ev)) == v.Int()
				case KindBool:
					same = f.Bool(ev) == v.Bool()
				case KindFloat64:
					g := f.Float64(ev)
					same = g == v.Float() || (math.IsNaN(g) && math.IsNaN(v.Float()))
				case KindStrings:
					same = len(f.Strings(ev)) == v.List().Len()
				case KindJSON:
					got, set := f.JSON(nil, ev)
					if !fd.IsList() { // a Struct: always an object, protojson's when set
						want := []byte("{}")
						if p.Has(fd) {
							raw, err := protojson.Marshal(v.Message().Interface())
							if err != nil {
								t.Fatal(err)
							}
							var buf bytes.Buffer
							if err := json.Compact(&buf, raw); err != nil {
								t.Fatal(err)
							}
							want = buf.Bytes()
						}
						same = set && bytes.Equal(got, want)
						if !same {
							t.Errorf("%s.%s = %s, protojson %s", name, fd.Name(), got, want)
						}
						break
					}
					same = set == (v.List().Len() > 0)
				}
				if !same {
					t.Fatalf("%s.%s getter disagrees with protoreflect", name, fd.Name())
				}
			}
		}
	}
	if _, ok := PayloadField(TypeByName("LaunchEvent"), "no_such_field"); ok {
		t.Error("a field that does not exist has a getter")
	}
	if n == 0 {
		t.Fatal("no getter checked")
	}
}

func BenchmarkAppendParams(b *testing.B) {
	ev := &eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_AddToCartEvent{AddToCartEvent: &eventgrpcv1.AddToCartEvent{ProductId: "p-123", Quantity: 2, Price: 10.5, Currency: "INR"}}}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendParams(buf[:0], ev)
	}
}

func BenchmarkPayloadJSON(b *testing.B) {
	ev := &eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_AddToCartEvent{AddToCartEvent: &eventgrpcv1.AddToCartEvent{ProductId: "p-123", Quantity: 2, Price: 10.5, Currency: "INR"}}}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = PayloadJSON(ev)
	}
}
