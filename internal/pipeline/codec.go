package pipeline

import (
	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/event"
)

// ContentType names the wire form of the messages the pipeline publishes:
// a sequence of size-delimited Events (event.AppendEvents). One message may
// hold events of several types; the type of each is the event's own (its
// eventOf), never the routing key.
const ContentType = "application/x-protobuf-delimited; proto=eventgrpc.v1.Events"

// Decode reads a message body the pipeline wrote (event.Decode).
func Decode(body []byte) ([]*eventgrpcv1.Events, error) { return event.Decode(body) }
