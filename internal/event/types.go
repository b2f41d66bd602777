package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
)

// ErrNoEventOf is returned when an event has no payload: its eventOf oneof
// is not set (or the event is nil).
var ErrNoEventOf = errors.New("event has no eventOf set")

// oneofName is the name of Event's payload oneof in the proto.
const oneofName = "eventOf"

// eventOf describes Event's payload oneof.
var eventOf = mustOneof()

func mustOneof() protoreflect.OneofDescriptor {
	od := (&eventgrpcv1.Event{}).ProtoReflect().Descriptor().Oneofs().ByName(oneofName)
	if od == nil {
		panic(fmt.Sprintf("event: eventgrpc.v1.Event has no oneof %q; was the proto changed?", oneofName))
	}
	if od.Fields().Len() != numTypes-1 {
		panic("event: the eventOf oneof changed; run go generate ./internal/event")
	}
	return od
}

// sortedNames holds the type name of every eventOf field, sorted.
var sortedNames = func() []string {
	out := slices.Clone(typeNames[1:])
	sort.Strings(out)
	return out
}()

// which returns the field of the eventOf oneof that ev has set, or nil.
func which(ev *eventgrpcv1.Event) protoreflect.FieldDescriptor {
	if ev == nil {
		return nil
	}
	return ev.ProtoReflect().WhichOneof(eventOf)
}

// Name returns the type name of ev: the short message name of the value set
// in its eventOf oneof, e.g. "LaunchEvent" (equal to the payload's Go type
// name). A CustomEvent is named "CustomEvent"; its own name field is left to
// the caller. It returns ErrNoEventOf when no payload is set or ev is nil.
func Name(ev *eventgrpcv1.Event) (string, error) {
	t := TypeOf(ev)
	if t == TypeNone {
		return "", ErrNoEventOf
	}
	return typeNames[t], nil
}

// Payload returns the typed message set in ev's eventOf oneof, e.g. a
// *eventgrpcv1.LaunchEvent, or nil when none is set or ev is nil. It is the
// event's own message, not a copy. When the oneof holds a nil message (which
// goes over the wire as an empty one), Payload returns a new empty message
// of that type, never a typed nil.
func Payload(ev *eventgrpcv1.Event) proto.Message {
	fd := which(ev)
	if fd == nil {
		return nil
	}
	m := ev.ProtoReflect().Get(fd).Message()
	if !m.IsValid() {
		return m.Type().New().Interface()
	}
	return m.Interface()
}

// Names returns the type name of every event the proto defines (every field
// of the eventOf oneof, CustomEvent included), sorted. The slice is the
// caller's own.
func Names() []string {
	return slices.Clone(sortedNames)
}

// payloadJSON is the JSON form of payloads: proto field names (snake_case,
// as in the .proto) and no unset fields.
var payloadJSON = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: false}

// PayloadJSON returns the payload of ev as compact protojson, keyed by proto
// field names (e.g. {"launch_source":"push","cold_start":true}), leaving out
// fields at their zero value. As in the proto3 JSON mapping, int64 values
// are JSON strings ("launch_time_ms":"1200") and map keys are sorted. The
// output is the same bytes for the same payload (protojson's deliberately
// unstable whitespace is removed). It returns ErrNoEventOf when no payload is
// set.
func PayloadJSON(ev *eventgrpcv1.Event) ([]byte, error) {
	p := Payload(ev)
	if p == nil {
		return nil, ErrNoEventOf
	}
	raw, err := payloadJSON.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("event: marshal %s payload: %w", p.ProtoReflect().Descriptor().Name(), err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, fmt.Errorf("event: compact %s payload: %w", p.ProtoReflect().Descriptor().Name(), err)
	}
	return buf.Bytes(), nil
}
