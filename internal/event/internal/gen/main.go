// Command gen writes internal/event/params_gen.go: for every type of the
// eventOf oneof of eventgrpc.v1.Event, a type index, the members table of
// its payload message (and of the messages nested in it), from which
// members.go writes the payload's JSON in protojson's shape (proto field
// names, declaration order, unset fields left out, int64 as strings,
// NaN/Infinity as strings), and typed getters of its top-level fields. Run
// by `go generate ./internal/event`.
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
	out     bytes.Buffer
	msgs    []protoreflect.MessageDescriptor // members tables to write
	seen    map[protoreflect.FullName]bool
	goTypes map[protoreflect.FullName]reflect.Type
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

// writer returns the Go expression of the func([]byte, V) []byte that
// appends one value of field fd (an element, for a repeated field) as
// protojson writes it (see members.go).
func (g *gen) writer(fd protoreflect.FieldDescriptor) string {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return "appendString"
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return "appendInt64"
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return "appendUint64"
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return "appendInt32"
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return "appendUint32"
	case protoreflect.BoolKind:
		return "appendBool"
	case protoreflect.DoubleKind:
		return "appendDouble"
	case protoreflect.FloatKind:
		return "appendFloat32"
	case protoreflect.MessageKind:
		if fd.Message().FullName() == structName {
			return "AppendStruct"
		}
		g.want(fd.Message())
		return fmt.Sprintf("messageOf(%s)", membersName(fd.Message()))
	}
	panic(fmt.Sprintf("gen: field %s: kind %s is not supported; teach internal/event/internal/gen", fd.FullName(), fd.Kind()))
}

// member returns the Go expression of the member (see members.go) of field
// fd of the message whose Go type is t, under the JSON key key.
func (g *gen) member(t reflect.Type, fd protoreflect.FieldDescriptor, key string) string {
	get := fmt.Sprintf("(*%s%s).Get%s", pkg, t.Name(), goField(t, fd))
	kind := "scalarMember"
	switch {
	case fd.IsMap():
		panic(fmt.Sprintf("gen: map field %s is not supported; teach internal/event/internal/gen", fd.FullName()))
	case fd.IsList():
		kind = "listMember"
	case fd.Message() != nil:
		kind = "objectMember"
	case fd.HasPresence():
		panic(fmt.Sprintf("gen: optional field %s is not supported; teach internal/event/internal/gen", fd.FullName()))
	case fd.Kind() == protoreflect.DoubleKind || fd.Kind() == protoreflect.FloatKind:
		kind = "floatMember"
	}
	return fmt.Sprintf("%s(`%s`, %s, %s)", kind, key, get, g.writer(fd))
}

// membersName is the name of the members table of md.
func membersName(md protoreflect.MessageDescriptor) string {
	return "membersOf" + strings.ReplaceAll(string(md.FullName()[len("eventgrpc.v1."):]), ".", "_")
}

func (g *gen) want(md protoreflect.MessageDescriptor) {
	if !g.seen[md.FullName()] {
		g.seen[md.FullName()] = true
		g.msgs = append(g.msgs, md)
	}
}

// members writes the members table of md: one member per field, in
// declaration order.
func (g *gen) members(md protoreflect.MessageDescriptor) {
	t := g.goType(md)
	g.p("var %s = []member[%s%s]{", membersName(md), pkg, t.Name())
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		g.p("%s,", g.member(t, fd, fmt.Sprintf(`"%s":`, fd.Name())))
	}
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
	g.p(`import eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"`)
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
		g.p("case *%s%s: return appendMessage(b, x.%s, %s)", pkg, t.wrapper, t.field, membersName(t.md))
	}
	g.p("}")
	g.p("return append(b, \"{}\"...)")
	g.p("}")
	g.p("")
	for i := 0; i < len(g.msgs); i++ { // members may add nested messages
		g.members(g.msgs[i])
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
			case fd.Kind() == protoreflect.MessageKind && fd.Message().FullName() == structName && !fd.IsList():
				// An unset Struct is the empty object, never a missing value.
				entry = fmt.Sprintf("{Kind: KindJSON, JSON: func(b []byte, e *eventgrpcv1.Event) ([]byte, bool) { return AppendStruct(b, %s), true }}", get)
			case fd.IsList() || fd.Kind() == protoreflect.MessageKind:
				entry = fmt.Sprintf("{Kind: KindJSON, JSON: valueOf((*eventgrpcv1.Event).Get%s, %s)}", t.field, g.member(gt, fd, ""))
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
