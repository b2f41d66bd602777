package landing

// The reference: the row-at-a-time mapping the compiled, columnar one
// replaced (schema.Table.Map over an EventSource that walks protoreflect
// and calls protojson per event). The tests hold the two equal.

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/event"
)

// refEventSource resolves the From paths of event tables (see schema's
// eventColumns) against one event and its request header.
type refEventSource struct {
	Header     *eventgrpcv1.Header
	Event      *eventgrpcv1.Event
	Name       string // type name
	InsertTime time.Time
}

var (
	refHeaderFields = (&eventgrpcv1.Header{}).ProtoReflect().Descriptor().Fields()
	refJSONOpts     = protojson.MarshalOptions{UseProtoNames: true}
)

// Lookup implements schematest.Source.
func (s *refEventSource) Lookup(from string) (any, bool) {
	switch from {
	case "event.id":
		return s.Event.GetId(), true
	case "event.name":
		if c := s.Event.GetCustomEvent(); c != nil {
			return c.GetName(), true
		}
		return s.Name, true
	case "event.type":
		return s.Name, true
	case "event.timestamp":
		ms, err := strconv.ParseInt(s.Event.GetTimestamp(), 10, 64)
		if err != nil {
			return s.Event.GetTimestamp(), true // Convert names the problem
		}
		return time.UnixMilli(ms).UTC(), true
	case "meta.insert_time":
		return s.InsertTime, true
	case "event.params":
		if c := s.Event.GetCustomEvent(); c != nil {
			b, err := json.Marshal(c.GetParams())
			if err != nil {
				return nil, false
			}
			return string(b), true
		}
		b, err := event.PayloadJSON(s.Event)
		if err != nil {
			return nil, false
		}
		return string(b), true
	}
	if f, ok := strings.CutPrefix(from, "header."); ok {
		fd := refHeaderFields.ByName(protoreflect.Name(f))
		if fd == nil {
			return nil, false
		}
		return s.Header.ProtoReflect().Get(fd).Interface(), true
	}
	if f, ok := strings.CutPrefix(from, "payload."); ok {
		return refPayloadField(event.Payload(s.Event), f)
	}
	if f, ok := strings.CutPrefix(from, "params."); ok { // a CustomEvent parameter
		v, ok := s.Event.GetCustomEvent().GetParams()[f]
		return v, ok
	}
	return nil, false
}

var refFieldCache sync.Map // "Message.path" → []protoreflect.FieldDescriptor

// payloadField reads a (dot-separated, possibly nested) field of m by proto
// name and turns it into a plain Go value.
func refPayloadField(m proto.Message, path string) (any, bool) {
	if m == nil {
		return nil, false
	}
	r := m.ProtoReflect()
	key := string(r.Descriptor().FullName()) + "." + path
	var fds []protoreflect.FieldDescriptor
	if v, ok := refFieldCache.Load(key); ok {
		fds = v.([]protoreflect.FieldDescriptor)
	} else {
		desc := r.Descriptor()
		for name := range strings.SplitSeq(path, ".") {
			if desc == nil {
				return nil, false
			}
			fd := desc.Fields().ByName(protoreflect.Name(name))
			if fd == nil {
				refFieldCache.Store(key, []protoreflect.FieldDescriptor(nil))
				return nil, false
			}
			fds = append(fds, fd)
			desc = fd.Message()
		}
		refFieldCache.Store(key, fds)
	}
	if fds == nil {
		return nil, false
	}
	for i, fd := range fds {
		v := r.Get(fd)
		if i == len(fds)-1 {
			return refPlain(fd, v), true
		}
		if fd.Message() == nil || fd.IsList() || fd.IsMap() {
			return nil, false
		}
		r = v.Message()
	}
	return nil, false
}

func refPlain(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch {
	case fd.IsList():
		l := v.List()
		out := make([]any, l.Len())
		for i := range l.Len() {
			out[i] = refScalar(fd, l.Get(i))
		}
		return out
	case fd.IsMap():
		out := map[string]any{}
		v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
			out[k.String()] = refScalar(fd.MapValue(), mv)
			return true
		})
		return out
	}
	return refScalar(fd, v)
}

func refScalar(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		b, err := refJSONOpts.Marshal(v.Message().Interface())
		if err != nil {
			return nil
		}
		return json.RawMessage(b)
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return int64(v.Enum())
	case protoreflect.BytesKind:
		return string(v.Bytes())
	}
	return v.Interface()
}
