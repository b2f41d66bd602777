package consume

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/eventtype"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/pipeline"
	"github.com/event-grpc/event-grpc/internal/schema"
)

// insertTime is when ingest accepted the message's events: its
// x-insert-time header, else when the broker took it, else now.
func insertTime(d broker.Delivery) time.Time {
	if ms, err := strconv.ParseInt(d.Headers[broker.HeaderInsertTime], 10, 64); err == nil && ms > 0 {
		return time.UnixMilli(ms).UTC()
	}
	if !d.Published.IsZero() {
		return d.Published.UTC()
	}
	return time.Now().UTC()
}

// DecodeEvents reads the pipeline's protobuf event batches: one source per
// event.
func DecodeEvents(d broker.Delivery) ([]schema.Source, error) {
	parts, err := pipeline.Decode(d.Body)
	if err != nil {
		return nil, err
	}
	at := insertTime(d)
	var out []schema.Source
	for _, p := range parts {
		h := p.GetHeader()
		if h == nil {
			h = &eventgrpcv1.Header{}
		}
		for _, ev := range p.GetEvents() {
			name, err := eventtype.Name(ev)
			if err != nil {
				return nil, fault.Permanent(fmt.Errorf("event %q: %w", ev.GetId(), err))
			}
			out = append(out, &EventSource{Header: h, Event: ev, Name: name, InsertTime: at})
		}
	}
	return out, nil
}

// EventSource resolves the From paths of event tables (see schema's
// eventColumns) against one event and its request header.
type EventSource struct {
	Header     *eventgrpcv1.Header
	Event      *eventgrpcv1.Event
	Name       string // type name
	InsertTime time.Time
}

var (
	headerFields = (&eventgrpcv1.Header{}).ProtoReflect().Descriptor().Fields()
	jsonOpts     = protojson.MarshalOptions{UseProtoNames: true}
)

// Lookup implements schema.Source.
func (s *EventSource) Lookup(from string) (any, bool) {
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
		b, err := eventtype.PayloadJSON(s.Event)
		if err != nil {
			return nil, false
		}
		return string(b), true
	}
	if f, ok := strings.CutPrefix(from, "header."); ok {
		fd := headerFields.ByName(protoreflect.Name(f))
		if fd == nil {
			return nil, false
		}
		return s.Header.ProtoReflect().Get(fd).Interface(), true
	}
	if f, ok := strings.CutPrefix(from, "payload."); ok {
		return payloadField(eventtype.Payload(s.Event), f)
	}
	if f, ok := strings.CutPrefix(from, "params."); ok { // a CustomEvent parameter
		v, ok := s.Event.GetCustomEvent().GetParams()[f]
		return v, ok
	}
	return nil, false
}

var fieldCache sync.Map // "Message.path" → []protoreflect.FieldDescriptor

// payloadField reads a (dot-separated, possibly nested) field of m by proto
// name and turns it into a plain Go value.
func payloadField(m proto.Message, path string) (any, bool) {
	if m == nil {
		return nil, false
	}
	r := m.ProtoReflect()
	key := string(r.Descriptor().FullName()) + "." + path
	var fds []protoreflect.FieldDescriptor
	if v, ok := fieldCache.Load(key); ok {
		fds = v.([]protoreflect.FieldDescriptor)
	} else {
		desc := r.Descriptor()
		for name := range strings.SplitSeq(path, ".") {
			if desc == nil {
				return nil, false
			}
			fd := desc.Fields().ByName(protoreflect.Name(name))
			if fd == nil {
				fieldCache.Store(key, []protoreflect.FieldDescriptor(nil))
				return nil, false
			}
			fds = append(fds, fd)
			desc = fd.Message()
		}
		fieldCache.Store(key, fds)
	}
	if fds == nil {
		return nil, false
	}
	for i, fd := range fds {
		v := r.Get(fd)
		if i == len(fds)-1 {
			return plain(fd, v), true
		}
		if fd.Message() == nil || fd.IsList() || fd.IsMap() {
			return nil, false
		}
		r = v.Message()
	}
	return nil, false
}

func plain(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch {
	case fd.IsList():
		l := v.List()
		out := make([]any, l.Len())
		for i := range l.Len() {
			out[i] = scalar(fd, l.Get(i))
		}
		return out
	case fd.IsMap():
		out := map[string]any{}
		v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
			out[k.String()] = scalar(fd.MapValue(), mv)
			return true
		})
		return out
	}
	return scalar(fd, v)
}

func scalar(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		b, err := jsonOpts.Marshal(v.Message().Interface())
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

// DecodeJSON reads a JSON object, or an array of objects, as other services
// publish them: one source per object. Unknown fields are ignored; a body
// that is not JSON objects is a permanent error.
func DecodeJSON(d broker.Delivery) ([]schema.Source, error) {
	body := bytes.TrimSpace(d.Body)
	var raws []json.RawMessage
	switch {
	case len(body) > 0 && body[0] == '[':
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, fault.Permanentf("message is not valid JSON: %v", err)
		}
	default:
		raws = []json.RawMessage{body}
	}
	at := insertTime(d)
	out := make([]schema.Source, 0, len(raws))
	for i, raw := range raws {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fault.Permanentf("message is not valid JSON: %v", err)
		}
		if dec.More() {
			return nil, fault.Permanentf("message holds more than one JSON value")
		}
		doc, ok := v.(map[string]any)
		if !ok {
			if len(raws) > 1 || body[0] == '[' {
				return nil, fault.Permanentf("message array element %d is %s, not a JSON object", i, schema.JSONKind(v))
			}
			return nil, fault.Permanentf("message is %s, not a JSON object or array of objects", schema.JSONKind(v))
		}
		var id string
		switch {
		case d.ID != "" && body[0] == '[':
			id = d.ID + "#" + strconv.Itoa(i)
		case d.ID != "":
			id = d.ID
		default:
			sum := sha256.Sum256(raw)
			id = hex.EncodeToString(sum[:])
		}
		out = append(out, schema.JSONSource{Doc: doc, Headers: d.Headers, Meta: map[string]any{"insert_time": at, "message_id": id}})
	}
	return out, nil
}
