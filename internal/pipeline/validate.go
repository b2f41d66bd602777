package pipeline

import (
	"fmt"
	"reflect"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/event"
	"github.com/event-grpc/event-grpc/internal/fault"
)

// reason is why one event was rejected: the metric label comes from it,
// never from the text the client reads.
type reason uint8

const (
	reasonNone reason = iota
	reasonNoEventOf
	reasonTimestamp
	reasonID
	reasonTooManyParams
	reasonCustomName
	reasonEventTooLarge
	reasonStringTooLong
	reasonRoutingKey
	reasonInFlight
	reasonNotDurable
	reasonConflict
	numReasons
)

var reasonLabels = [numReasons]string{
	reasonNone:          "none",
	reasonNoEventOf:     "no_event_of",
	reasonTimestamp:     "timestamp",
	reasonID:            "id",
	reasonTooManyParams: "too_many_params",
	reasonCustomName:    "custom_name",
	reasonEventTooLarge: "event_too_large",
	reasonStringTooLong: "string_too_long",
	reasonRoutingKey:    "routing_key",
	reasonInFlight:      "in_flight",
	reasonNotDurable:    "not_durable",
	reasonConflict:      "conflict",
}

func (r reason) label() string { return reasonLabels[r] }

// code is the wire code of an event rejected for r.
func (r reason) code() eventgrpcv1.ResultCode {
	switch r {
	case reasonEventTooLarge:
		return eventgrpcv1.ResultCode_RESULT_CODE_TOO_LARGE
	case reasonInFlight, reasonNotDurable:
		return eventgrpcv1.ResultCode_RESULT_CODE_UNAVAILABLE
	case reasonConflict:
		return eventgrpcv1.ResultCode_RESULT_CODE_CONFLICT
	}
	return eventgrpcv1.ResultCode_RESULT_CODE_INVALID
}

// setFate writes an event's fate: its code, whether it may be retried, and
// the reason people read.
func setFate(res *eventgrpcv1.EventResult, code eventgrpcv1.ResultCode, reason string) {
	res.Code = code
	res.Retryable = code == eventgrpcv1.ResultCode_RESULT_CODE_UNAVAILABLE || code == eventgrpcv1.ResultCode_RESULT_CODE_RESOURCE_EXHAUSTED
	res.Reason = reason
}

// MaxIDLength bounds a client-given event id.
const MaxIDLength = 128

// maxCustomName bounds a CustomEvent's name (its routing key is
// "CustomEvent.<name>", well inside an AMQP short string).
const maxCustomName = 64

// typeNames maps each Go type of Event's eventOf oneof to the event type
// name event.Name gives, so naming an event is a map lookup instead of
// a protoreflect walk. Built once from the descriptor.
var typeNames = func() map[reflect.Type]string {
	out := map[reflect.Type]string{}
	fields := (&eventgrpcv1.Event{}).ProtoReflect().Descriptor().Oneofs().ByName("eventOf").Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		ev := &eventgrpcv1.Event{}
		m := ev.ProtoReflect()
		m.Set(fd, m.NewField(fd))
		out[reflect.TypeOf(ev.GetEventOf())] = string(fd.Message().Name())
	}
	return out
}()

// typeName is event.Name without reflection.
func typeName(ev *eventgrpcv1.Event) (string, bool) {
	of := ev.GetEventOf()
	if of == nil {
		return "", false
	}
	name, ok := typeNames[reflect.TypeOf(of)]
	return name, ok
}

// validCustomName reports whether s is 1-64 letters, digits, '_' or '-',
// starting with a letter.
func validCustomName(s string) bool {
	if len(s) == 0 || len(s) > maxCustomName {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// verdict is the outcome of checking one event.
type verdict struct {
	key    string // routing key
	typ    string // type name (the metric label; custom names are not labels)
	reason reason
	text   string // what the client reads; empty when accepted
}

// normalize checks one event, fills its id, clamps its timestamp, and
// returns its routing key, or a reason to reject it. size is the event's
// encoded size when known, else -1.
func (p *Pipeline) normalize(ev *eventgrpcv1.Event, now time.Time, size int) verdict {
	reject := func(r reason, format string, args ...any) verdict {
		return verdict{reason: r, text: fmt.Sprintf(format, args...)}
	}
	if ev == nil {
		return verdict{reason: reasonNoEventOf, text: "event is empty"}
	}
	name, ok := typeName(ev)
	if !ok {
		return verdict{reason: reasonNoEventOf, text: event.ErrNoEventOf.Error()}
	}
	if lim := p.cfg.MaxEventBytes; lim > 0 {
		if size < 0 {
			size = proto.Size(ev)
		}
		if size > lim {
			return reject(reasonEventTooLarge, "event is %d bytes encoded; the limit is %d (MAX_EVENT_BYTES)", size, lim)
		}
	}
	if lim := p.cfg.MaxStringLength; lim > 0 {
		if size < 0 {
			size = proto.Size(ev)
		}
		if size > lim { // a smaller message cannot hold a longer string
			if bad := longString(ev.ProtoReflect(), "event", lim); bad != "" {
				return verdict{reason: reasonStringTooLong, text: bad}
			}
		}
	}
	v := verdict{key: name, typ: name}
	if c := ev.GetCustomEvent(); c != nil {
		if !validCustomName(c.GetName()) {
			return reject(reasonCustomName, "CustomEvent.name %q (%d bytes) must be 1-64 letters, digits, '_' or '-', starting with a letter", truncate(c.GetName(), 80), len(c.GetName()))
		}
		if lim := p.cfg.MaxParams; lim > 0 && len(c.GetParams()) > lim {
			return reject(reasonTooManyParams, "CustomEvent.params has %d entries; the limit is %d (MAX_PARAMS)", len(c.GetParams()), lim)
		}
		v.key = name + "." + c.GetName()
	}
	if err := broker.CheckShortString("routing key", v.key); err != nil {
		return verdict{reason: reasonRoutingKey, text: err.Error()}
	}
	switch id := ev.GetId(); {
	case id == "":
		ev.Id = uuid.Must(uuid.NewV7()).String()
	case len(id) > MaxIDLength:
		return reject(reasonID, "id is %d bytes; the limit is %d", len(id), MaxIDLength)
	case !utf8.ValidString(id):
		return verdict{reason: reasonID, text: "id is not valid UTF-8"}
	}
	nowMs := now.UnixMilli()
	if ev.GetTimestamp() == "" {
		ev.Timestamp = strconv.FormatInt(nowMs, 10)
		return v
	}
	ts, err := strconv.ParseInt(ev.GetTimestamp(), 10, 64)
	if err != nil {
		return reject(reasonTimestamp, "timestamp %q is not epoch milliseconds", truncate(ev.GetTimestamp(), 40))
	}
	if ts > nowMs {
		ev.Timestamp = strconv.FormatInt(nowMs, 10) // clamp the future to now, as the seed did
	} else if ts < nowMs-p.cfg.MaxPast.Milliseconds() {
		return reject(reasonTimestamp, "timestamp %d is older than the accepted age %v (MAX_EVENT_AGE)", ts, p.cfg.MaxPast)
	}
	return v
}

// checkHeader refuses a request header holding a string (or map key)
// longer than MaxStringLength, naming the field.
func (p *Pipeline) checkHeader(h *eventgrpcv1.Header) error {
	lim := p.cfg.MaxStringLength
	if lim <= 0 || h == nil || proto.Size(h) <= lim {
		return nil
	}
	if bad := longString(h.ProtoReflect(), "header", lim); bad != "" {
		return fault.Permanentf("%s", bad)
	}
	return nil
}

// longString names the first string, bytes or map key of m longer than
// lim, or returns "".
func longString(m protoreflect.Message, what string, lim int) string {
	var bad string
	var walk func(r protoreflect.Message, path string)
	walk = func(r protoreflect.Message, path string) {
		r.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			name := path + "." + string(fd.Name())
			check := func(v protoreflect.Value, fd protoreflect.FieldDescriptor) {
				switch fd.Kind() {
				case protoreflect.StringKind:
					if len(v.String()) > lim && bad == "" {
						bad = fmt.Sprintf("%s is %d bytes; the limit is %d (MAX_STRING_LENGTH)", name, len(v.String()), lim)
					}
				case protoreflect.BytesKind:
					if len(v.Bytes()) > lim && bad == "" {
						bad = fmt.Sprintf("%s is %d bytes; the limit is %d (MAX_STRING_LENGTH)", name, len(v.Bytes()), lim)
					}
				case protoreflect.MessageKind, protoreflect.GroupKind:
					walk(v.Message(), name)
				}
			}
			switch {
			case fd.IsList():
				l := v.List()
				for i := range l.Len() {
					check(l.Get(i), fd)
				}
			case fd.IsMap():
				v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
					if len(k.String()) > lim && bad == "" {
						bad = fmt.Sprintf("%s key is %d bytes; the limit is %d (MAX_STRING_LENGTH)", name, len(k.String()), lim)
					}
					check(mv, fd.MapValue())
					return bad == ""
				})
			default:
				check(v, fd)
			}
			return bad == ""
		})
	}
	walk(m, what)
	return bad
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
