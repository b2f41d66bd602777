package event

import (
	"encoding/json"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/event-grpc/event-grpc/internal/fault"
)

// eventsField is the field number of Events.events on the wire.
const eventsField = 2

// ErrTooManyEvents is wrapped by CountEvents' refusal of a message with
// more events than allowed.
var ErrTooManyEvents = errors.New("too many events")

// CountEvents counts the entries of Events.events in b, the wire form of
// an eventgrpc.v1.Events message, without decoding them: it walks the
// top-level fields only, so it costs a few nanoseconds per event and
// allocates nothing but its refusal. Past max entries it stops and returns a permanent
// error (fault.Permanent) wrapping ErrTooManyEvents that names
// MAX_EVENTS_PER_REQUEST; a message that is not well-formed protobuf at the
// top level is a permanent error naming the problem. A count within max
// says nothing about whether the entries themselves decode.
//
// An empty event is two bytes on the wire and about a hundred decoded, so
// servers call this before proto.Unmarshal: a 4 MiB message of two million
// empty events is refused at the first event past max.
func CountEvents(b []byte, max int) (int, error) {
	n := 0
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return n, fault.Permanentf("events message: bad field tag: %v", protowire.ParseError(l))
		}
		b = b[l:]
		if num == eventsField && typ == protowire.BytesType {
			n++
			if n > max {
				return n, fault.Permanent(fmt.Errorf("%w: request has more than %d events; the limit is %d (MAX_EVENTS_PER_REQUEST)", ErrTooManyEvents, max, max))
			}
		}
		l = protowire.ConsumeFieldValue(num, typ, b)
		if l < 0 {
			return n, fault.Permanentf("events message: field %d: %v", num, protowire.ParseError(l))
		}
		b = b[l:]
	}
	return n, nil
}

// CountJSONEvents counts the entries of the top-level "events" array of
// b, the JSON form of an eventgrpc.v1.Events message, without decoding
// them: one pass that follows strings and brackets only. Past max entries
// it stops with the error CountEvents gives (wrapping ErrTooManyEvents).
// It does not validate the JSON: what it cannot follow it leaves to the
// decoder, which reports it.
func CountJSONEvents(b []byte, max int) (int, error) {
	n, depth, eventsDepth := 0, 0, 0
	expectKey, seen := false, false // at depth 1: a key comes next; in the array: this element was counted
	key := ""
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		if eventsDepth > 0 && depth == eventsDepth && c != ',' && c != ']' && !seen {
			seen = true
			n++
			if n > max {
				return n, fault.Permanent(fmt.Errorf("%w: request has more than %d events; the limit is %d (MAX_EVENTS_PER_REQUEST)", ErrTooManyEvents, max, max))
			}
		}
		switch c {
		case '"':
			j := i + 1
			escaped := false
			for ; j < len(b); j++ {
				if b[j] == '\\' {
					escaped = true
					j++
					continue
				}
				if b[j] == '"' {
					break
				}
			}
			if j >= len(b) {
				return n, nil // unterminated: the decoder says so
			}
			if depth == 1 && expectKey {
				key = string(b[i+1 : j])
				if escaped {
					if err := json.Unmarshal(b[i:j+1], &key); err != nil {
						key = ""
					}
				}
				expectKey = false
			}
			i = j
		case '{', '[':
			depth++
			if depth == 1 && c == '{' {
				expectKey = true
			}
			if c == '[' && depth == 2 && key == "events" && eventsDepth == 0 {
				eventsDepth, seen = depth, false
			}
		case '}', ']':
			if depth == eventsDepth {
				eventsDepth = 0
			}
			depth--
		case ',':
			if depth == 1 {
				expectKey, key = true, ""
			}
			if depth == eventsDepth {
				seen = false
			}
		}
	}
	return n, nil
}
