// Command gen writes internal/event/params_gen.go: for every type of the
// eventOf oneof of eventgrpc.v1.Event, a type index, a JSON encoder of the
// payload in protojson's shape (proto field names, declaration order, unset
// fields left out, int64 as strings, NaN/Infinity as strings) and typed
// getters of its top-level fields. Run by `go generate ./internal/event`.
package main

import (
	"bytes"
	"fmt"
	"go/format"
	"os"
	"reflect"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
)

const pkg = "eventgrpcv1."

// structName is google.protobuf.Struct, the free-form JSON object of the
// generic events: written by the hand-made AppendStruct (structjson.go).
const structName = "google.protobuf.Struct"

type gen struct {
	out      bytes.Buffer
	msgs     []protoreflect.MessageDescriptor // encoders to write
	seen     map[protoreflect.FullName]bool
	goTypes  map[protoreflect.FullName]reflect.Type
	getters  bytes.Buffer
	nameList []string
}

func (g *gen) p(format string, args ...any) { fmt.Fprintf(&g.out, format+"\n", args...) }

// goField returns the Go struct field name of fd in the Go type t.
func goField(t reflect.Type, fd protoreflect.FieldDescriptor) string {
	for i := range t.NumField() {
		f := t.Field(i)
		for part := range strings.SplitSeq(f.Tag.Get("protobuf"), ",") {
			if part == "name="+string(fd.Name()) {
				return f.Name
			}
		}
	}
	panic(fmt.Sprintf("gen: no Go field for %s in %s", fd.FullName(), t))
}

func (g *gen) goType(md protoreflect.MessageDescriptor) reflect.Type {
	if t, ok := g.goTypes[md.FullName()]; ok {
		return t
	}
	panic(fmt.Sprintf("gen: no Go type known for %s", md.FullName()))
}

func (g *gen) learn(m proto.Message) {
	md := m.ProtoReflect().Descriptor()
	if g.goTypes[md.FullName()] != nil {
		return
	}
	g.goTypes[md.FullName()] = reflect.TypeOf(m).Elem()
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.Message() != nil && !fd.IsMap() {
			sub := m.ProtoReflect().NewField(fd)
			if fd.IsList() {
				sub = protoreflect.ValueOfMessage(sub.List().NewElement().Message())
			}
			g.learn(sub.Message().Interface())
		}
	}
}

// value writes statements appending the JSON of the singular value expr
// of field fd to b.
func (g *gen) value(fd protoreflect.FieldDescriptor, expr string) string {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return fmt.Sprintf("b = appendString(b, %s)", expr)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return fmt.Sprintf("b = append(strconv.AppendInt(append(b, '\"'), int64(%s), 10), '\"')", expr)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return fmt.Sprintf("b = append(strconv.AppendUint(append(b, '\"'), uint64(%s), 10), '\"')", expr)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return fmt.Sprintf("b = strconv.AppendInt(b, int64(%s), 10)", expr)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return fmt.Sprintf("b = strconv.AppendUint(b, uint64(%s), 10)", expr)
	case protoreflect.BoolKind:
		return fmt.Sprintf("b = strconv.AppendBool(b, %s)", expr)
	case protoreflect.DoubleKind:
		return fmt.Sprintf("b = appendFloat(b, %s, 64)", expr)
	case protoreflect.FloatKind:
		return fmt.Sprintf("b = appendFloat(b, float64(%s), 32)", expr)
	case protoreflect.MessageKind:
		if fd.Message().FullName() == structName {
			return fmt.Sprintf("b = AppendStruct(b, %s)", expr)
		}
		g.want(fd.Message())
		return fmt.Sprintf("b = %s(b, %s)", encName(fd.Message()), expr)
	}
	panic(fmt.Sprintf("gen: field %s: kind %s is not supported; teach internal/event/internal/gen", fd.FullName(), fd.Kind()))
}

// populated is the Go condition under which protojson (EmitUnpopulated
// false) writes the singular field expr.
func populated(fd protoreflect.FieldDescriptor, expr string) string {
	if fd.HasPresence() {
		return expr + " != nil"
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		return expr + ` != ""`
	case protoreflect.BoolKind:
		return expr
	case protoreflect.DoubleKind:
		return "math.Float64bits(" + expr + ") != 0"
	case protoreflect.FloatKind:
		return "math.Float32bits(" + expr + ") != 0"
	}
	return expr + " != 0"
}

func encName(md protoreflect.MessageDescriptor) string {
	return "append" + strings.ReplaceAll(string(md.FullName()[len("eventgrpc.v1."):]), ".", "_")
}

func (g *gen) want(md protoreflect.MessageDescriptor) {
	if !g.seen[md.FullName()] {
		g.seen[md.FullName()] = true
		g.msgs = append(g.msgs, md)
	}
}

func (g *gen) encoder(md protoreflect.MessageDescriptor) {
	t := g.goType(md)
	g.p("func %s(b []byte, m *%s%s) []byte {", encName(md), pkg, t.Name())
	g.p("b = append(b, '{')")
	g.p("if m == nil { return append(b, '}') }")
	g.p("n := len(b)")
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		expr := "m." + goField(t, fd)
		key := fmt.Sprintf("b = appendKey(b, n, `\"%s\":`)", fd.Name())
		switch {
		case fd.IsMap():
			panic(fmt.Sprintf("gen: map field %s is not supported; teach internal/event/internal/gen", fd.FullName()))
		case fd.IsList():
			g.p("if len(%s) > 0 {", expr)
			g.p(key)
			g.p("b = append(b, '[')")
			g.p("for i, v := range %s {", expr)
			g.p("if i > 0 { b = append(b, ',') }")
			g.p("%s", g.value(fd, "v"))
			g.p("}")
			g.p("b = append(b, ']')")
			g.p("}")
		default:
			g.p("if %s {", populated(fd, expr))
			g.p(key)
			g.p("%s", g.value(fd, expr))
			g.p("}")
		}
	}
	g.p("return append(b, '}')")
	g.p("}")
	g.p("")
}

func main() {
	g := &gen{seen: map[protoreflect.FullName]bool{}, goTypes: map[protoreflect.FullName]reflect.Type{}}
	evDesc := (&eventgrpcv1.Event{}).ProtoReflect().Descriptor()
	oneof := evDesc.Oneofs().ByName("eventOf")
	type typ struct {
		name, wrapper, field string
		md                   protoreflect.MessageDescriptor
	}
	var types []typ
	fields := oneof.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		ev := &eventgrpcv1.Event{}
		sub := ev.ProtoReflect().NewField(fd).Message()
		ev.ProtoReflect().Set(fd, protoreflect.ValueOfMessage(sub))
		w := reflect.TypeOf(ev.EventOf).Elem()
		g.learn(sub.Interface())
		types = append(types, typ{name: string(fd.Message().Name()), wrapper: w.Name(), field: w.Field(0).Name, md: fd.Message()})
	}
	g.p("// Code generated by internal/event/internal/gen; DO NOT EDIT.")
	g.p("")
	g.p("package event")
	g.p("")
	g.p("import (")
	g.p(`"math"`)
	g.p(`"strconv"`)
	g.p("")
	g.p(`eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"`)
	g.p(")")
	g.p("")
	g.p("// numTypes is the number of Type values: TypeNone and one per eventOf field.")
	g.p("const numTypes = %d", len(types)+1)
	g.p("")
	g.p("// typeNames are the type names by Type, in the oneof's declaration order.")
	g.p("var typeNames = [numTypes]string{\"\",")
	for _, t := range types {
		g.p("%q,", t.name)
	}
	g.p("}")
	g.p("")
	g.p("// TypeOf returns the type of ev: the eventOf field it has set, or")
	g.p("// TypeNone when none is set or ev is nil.")
	g.p("func TypeOf(ev *eventgrpcv1.Event) Type {")
	g.p("if ev == nil { return TypeNone }")
	g.p("switch ev.EventOf.(type) {")
	for i, t := range types {
		g.p("case *%s%s: return %d", pkg, t.wrapper, i+1)
	}
	g.p("}")
	g.p("return TypeNone")
	g.p("}")
	g.p("")
	g.p("// appendPayload appends the JSON of ev's payload (protojson's shape);")
	g.p("// CustomEvent is left to the caller.")
	g.p("func appendPayload(b []byte, ev *eventgrpcv1.Event) []byte {")
	g.p("switch x := ev.EventOf.(type) {")
	for _, t := range types {
		if t.name == "CustomEvent" {
			continue
		}
		g.want(t.md)
		g.p("case *%s%s: return %s(b, x.%s)", pkg, t.wrapper, encName(t.md), t.field)
	}
	g.p("}")
	g.p("return append(b, \"{}\"...)")
	g.p("}")
	g.p("")
	for i := 0; i < len(g.msgs); i++ { // encoders may add nested messages
		g.encoder(g.msgs[i])
	}
	// Typed getters of the top-level payload fields.
	g.p("// payloadFields are the typed getters of every top-level payload field,")
	g.p("// keyed by type name and proto field name.")
	g.p("var payloadFields = map[string]Field{")
	var keys []string
	entries := map[string]string{}
	for _, t := range types {
		gt := g.goType(t.md)
		fs := t.md.Fields()
		for i := range fs.Len() {
			fd := fs.Get(i)
			// e.GetX() may be nil: read through the getter of the field.
			get := fmt.Sprintf("e.Get%s().Get%s()", t.field, goField(gt, fd))
			fn := "func(e *eventgrpcv1.Event)"
			var entry string
			switch {
			case fd.IsMap():
				continue // CustomEvent.params: read as params.<name>
			case fd.IsList() && fd.Kind() == protoreflect.StringKind:
				entry = fmt.Sprintf("{Kind: KindStrings, Strings: %s []string { return %s }}", fn, get)
			case fd.IsList() || fd.Kind() == protoreflect.MessageKind:
				var body bytes.Buffer
				if fd.IsList() {
					fmt.Fprintf(&body, "v := %s\nif len(v) == 0 { return b, false }\nb = append(b, '[')\nfor i, v := range v {\nif i > 0 { b = append(b, ',') }\n%s\n}\nreturn append(b, ']'), true", get, g.value(fd, "v"))
				} else if fd.Message().FullName() == structName {
					// An unset Struct is the empty object, never a missing value.
					fmt.Fprintf(&body, "return AppendStruct(b, %s), true", get)
				} else {
					fmt.Fprintf(&body, "v := %s\nif v == nil { return b, false }\n%s\nreturn b, true", get, g.value(fd, "v"))
				}
				entry = fmt.Sprintf("{Kind: KindJSON, JSON: func(b []byte, e *eventgrpcv1.Event) ([]byte, bool) {\n%s\n}}", body.String())
			case fd.Kind() == protoreflect.StringKind:
				entry = fmt.Sprintf("{Kind: KindString, String: %s string { return %s }}", fn, get)
			case fd.Kind() == protoreflect.Int64Kind:
				entry = fmt.Sprintf("{Kind: KindInt64, Int64: %s int64 { return %s }}", fn, get)
			case fd.Kind() == protoreflect.Int32Kind:
				entry = fmt.Sprintf("{Kind: KindInt32, Int32: %s int32 { return %s }}", fn, get)
			case fd.Kind() == protoreflect.BoolKind:
				entry = fmt.Sprintf("{Kind: KindBool, Bool: %s bool { return %s }}", fn, get)
			case fd.Kind() == protoreflect.DoubleKind:
				entry = fmt.Sprintf("{Kind: KindFloat64, Float64: %s float64 { return %s }}", fn, get)
			default:
				panic(fmt.Sprintf("gen: getter of %s (%s) is not supported; teach internal/event/internal/gen", fd.FullName(), fd.Kind()))
			}
			k := t.name + "." + string(fd.Name())
			keys = append(keys, k)
			entries[k] = entry
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		g.p("%q: %s,", k, entries[k])
	}
	g.p("}")
	// Getters of the request header's fields (all strings).
	hdr := (&eventgrpcv1.Header{}).ProtoReflect().Descriptor()
	ht := reflect.TypeOf(eventgrpcv1.Header{})
	g.p("")
	g.p("// headerFields are the getters of the request Header's fields, by proto name.")
	g.p("var headerFields = map[string]func(*eventgrpcv1.Header) string{")
	hf := hdr.Fields()
	for i := range hf.Len() {
		fd := hf.Get(i)
		if fd.Kind() != protoreflect.StringKind || fd.IsList() {
			panic(fmt.Sprintf("gen: header field %s is not a string; teach internal/event/internal/gen", fd.FullName()))
		}
		g.p("%q: func(h *eventgrpcv1.Header) string { return h.Get%s() },", fd.Name(), goField(ht, fd))
	}
	g.p("}")
	src, err := format.Source(g.out.Bytes())
	if err != nil {
		os.Stdout.Write(g.out.Bytes())
		panic(err)
	}
	if err := os.WriteFile("params_gen.go", src, 0o644); err != nil {
		panic(err)
	}
}
