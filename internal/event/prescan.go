package event

import (
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
