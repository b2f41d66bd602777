package schema

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/event"
)

// EventRow is the source of one row of an event table: one event and what
// it shares with its Events group (the request Header, the insert time),
// which the handler sets once per group.
type EventRow struct {
	Header     *eventgrpcv1.Header
	Event      *eventgrpcv1.Event
	Type       event.Type // event.TypeOf(Event), from the event itself
	InsertTime time.Time
}

// CompileEvents compiles the From paths of an event table (see
// eventColumns): event.id, event.name, event.type, event.timestamp,
// event.params, event.user_id (no value when empty, so
// "event.user_id|header.userId" falls back to the header),
// event.anonymous_id, event.context and event.integrations (JSON objects),
// meta.insert_time, header.<field>, payload.<field>, params.<name>. A path
// naming nothing is an error.
func CompileEvents(t *Table) (*Mapper[*EventRow], error) {
	return Compile(t, resolveEvent)
}

func resolveEvent(from string, col Column) (Getter[*EventRow], error) {
	switch from {
	case "event.id":
		return eventText((*eventgrpcv1.Event).GetId), nil
	case "event.name":
		return func(r *EventRow, b *Batch, c *Col) (bool, error) {
			if ce, ok := r.Event.GetEventOf().(*eventgrpcv1.Event_CustomEvent); ok {
				return true, appendStr(b, c, ce.CustomEvent.GetName())
			}
			return true, appendStr(b, c, r.Type.String())
		}, nil
	case "event.user_id":
		return func(r *EventRow, b *Batch, c *Col) (bool, error) {
			if v := r.Event.GetUserId(); v != "" {
				return true, appendStr(b, c, v)
			}
			return false, nil // "event.user_id|header.userId" falls back to the header
		}, nil
	case "event.anonymous_id":
		return eventText((*eventgrpcv1.Event).GetAnonymousId), nil
	case "event.context", "event.integrations":
		if col.Type != JSON && col.Type != String {
			return nil, fmt.Errorf("%s is JSON, not %s", from, col.Type)
		}
		get := (*eventgrpcv1.Event).GetContext
		if from == "event.integrations" {
			get = (*eventgrpcv1.Event).GetIntegrations
		}
		return func(r *EventRow, b *Batch, c *Col) (bool, error) {
			start := len(b.arena)
			if cap(b.arena)-start < 1024 {
				b.arena = make([]byte, 0, arenaChunk)
				start = 0
			}
			b.arena = event.AppendStruct(b.arena, get(r.Event))
			c.Str = append(c.Str, unsafeString(b.arena[start:]))
			return true, nil
		}, nil
	case "event.type":
		return func(r *EventRow, b *Batch, c *Col) (bool, error) {
			return true, appendStr(b, c, r.Type.String())
		}, nil
	case "event.timestamp":
		return func(r *EventRow, b *Batch, c *Col) (bool, error) {
			ts := r.Event.GetTimestamp()
			if c.Type == DateTime || c.Type == Date {
				if ms, err := strconv.ParseInt(ts, 10, 64); err == nil {
					appendTime(c, time.UnixMilli(ms).UTC())
					return true, nil
				}
			}
			return true, appendStr(b, c, ts) // names the problem
		}, nil
	case "meta.insert_time":
		if col.Type != DateTime && col.Type != Date {
			return nil, fmt.Errorf("meta.insert_time is a time, not %s", col.Type)
		}
		return func(r *EventRow, b *Batch, c *Col) (bool, error) {
			appendTime(c, r.InsertTime)
			return true, nil
		}, nil
	case "event.params":
		if col.Type != JSON && col.Type != String {
			return nil, fmt.Errorf("event.params is JSON, not %s", col.Type)
		}
		return func(r *EventRow, b *Batch, c *Col) (bool, error) {
			start := len(b.arena)
			if cap(b.arena)-start < 4096 {
				b.arena = make([]byte, 0, arenaChunk)
				start = 0
			}
			b.arena = event.AppendParams(b.arena, r.Event)
			if len(b.arena) == start {
				c.Str = append(c.Str, "")
				return true, nil
			}
			// The params were appended in place; when append had to grow
			// the arena they sit in a new array whose tail is still free.
			c.Str = append(c.Str, unsafeString(b.arena[start:]))
			return true, nil
		}, nil
	}
	if f, ok := strings.CutPrefix(from, "header."); ok {
		get, ok := event.HeaderField(f)
		if !ok {
			return nil, fmt.Errorf("the request Header has no field %q", f)
		}
		return func(r *EventRow, b *Batch, c *Col) (bool, error) {
			return true, appendStr(b, c, get(r.Header))
		}, nil
	}
	if f, ok := strings.CutPrefix(from, "payload."); ok {
		return resolvePayload(f, col)
	}
	if name, ok := strings.CutPrefix(from, "params."); ok { // a CustomEvent parameter
		return func(r *EventRow, b *Batch, c *Col) (bool, error) {
			v, ok := r.Event.GetCustomEvent().GetParams()[name]
			if !ok {
				return false, nil
			}
			return true, appendStr(b, c, v)
		}, nil
	}
	return nil, fmt.Errorf("%q is not an event path (event.*, meta.insert_time, header.*, payload.*, params.*)", from)
}

// eventText is the Getter of a text field of the event, converted to the
// column's type.
func eventText(get func(*eventgrpcv1.Event) string) Getter[*EventRow] {
	return func(r *EventRow, b *Batch, c *Col) (bool, error) {
		return true, appendStr(b, c, get(r.Event))
	}
}

// resolvePayload compiles payload.<field>: for every event type that has
// the field, a typed getter and its conversion to the column's type. An
// event of a type without the field has no value there.
func resolvePayload(field string, col Column) (Getter[*EventRow], error) {
	var by [event.NumTypes]Getter[*EventRow]
	found := false
	for t := event.Type(1); int(t) < event.NumTypes; t++ {
		f, ok := event.PayloadField(t, field)
		if !ok {
			continue
		}
		g, err := payloadGetter(f, col)
		if err != nil {
			return nil, fmt.Errorf("payload field %s.%s: %w", t, field, err)
		}
		by[t] = g
		found = true
	}
	if !found {
		return nil, fmt.Errorf("no event type has a payload field %q", field)
	}
	return func(r *EventRow, b *Batch, c *Col) (bool, error) {
		g := by[r.Type]
		if g == nil {
			return false, nil
		}
		return g(r, b, c)
	}, nil
}

func payloadGetter(f event.Field, col Column) (Getter[*EventRow], error) {
	switch f.Kind {
	case event.KindString:
		get := f.String
		return func(r *EventRow, b *Batch, c *Col) (bool, error) { return true, appendStr(b, c, get(r.Event)) }, nil
	case event.KindInt64:
		get := f.Int64
		if col.Type == String || col.Type == JSON {
			return func(r *EventRow, b *Batch, c *Col) (bool, error) {
				c.Str = append(c.Str, strconv.FormatInt(get(r.Event), 10))
				return true, nil
			}, nil
		}
		return func(r *EventRow, b *Batch, c *Col) (bool, error) { return true, appendInt(c, get(r.Event)) }, nil
	case event.KindInt32:
		get := f.Int32
		if col.Type == String || col.Type == JSON {
			return func(r *EventRow, b *Batch, c *Col) (bool, error) {
				c.Str = append(c.Str, strconv.FormatInt(int64(get(r.Event)), 10))
				return true, nil
			}, nil
		}
		return func(r *EventRow, b *Batch, c *Col) (bool, error) { return true, appendInt(c, int64(get(r.Event))) }, nil
	case event.KindBool:
		get := f.Bool
		return func(r *EventRow, b *Batch, c *Col) (bool, error) {
			v := get(r.Event)
			if c.Type == Bool {
				c.Bool = append(c.Bool, v)
				return true, nil
			}
			return true, appendAny(c, v)
		}, nil
	case event.KindFloat64:
		get := f.Float64
		return func(r *EventRow, b *Batch, c *Col) (bool, error) {
			v := get(r.Event)
			switch c.Type {
			case Float64:
				c.F64 = append(c.F64, v)
			case DateTime, Date:
				tm, err := epoch(v)
				if err != nil {
					return true, err
				}
				appendTime(c, tm)
			case Int64, Int32:
				if v != math.Trunc(v) || v < -9.2e18 || v > 9.2e18 {
					return true, fmt.Errorf("%v is not an integer", v)
				}
				return true, appendInt(c, int64(v))
			default:
				return true, appendAny(c, v)
			}
			return true, nil
		}, nil
	case event.KindStrings:
		get := f.Strings
		return func(r *EventRow, b *Batch, c *Col) (bool, error) {
			v := get(r.Event)
			if c.Type == Strings {
				if v == nil {
					v = noStrings
				}
				c.List = append(c.List, v)
				return true, nil
			}
			return true, appendAny(c, anySlice(v))
		}, nil
	case event.KindJSON:
		if col.Type != JSON && col.Type != String {
			return nil, fmt.Errorf("a message field goes to a JSON or String column, not %s", col.Type)
		}
		get := f.JSON
		return func(r *EventRow, b *Batch, c *Col) (bool, error) {
			start := len(b.arena)
			if cap(b.arena)-start < 1024 {
				b.arena = make([]byte, 0, arenaChunk)
				start = 0
			}
			var set bool
			b.arena, set = get(b.arena, r.Event)
			if !set {
				c.Str = append(c.Str, "[]")
				return true, nil
			}
			c.Str = append(c.Str, unsafeString(b.arena[start:]))
			return true, nil
		}, nil
	}
	return nil, fmt.Errorf("unknown field kind %d", f.Kind)
}

func anySlice(v []string) []any {
	out := make([]any, len(v))
	for i, s := range v {
		out[i] = s
	}
	return out
}
