package event

import (
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/fault"
)

// AppendEvents appends evs to buf as one part of a message body: its
// encoded size as a varint, then the encoded Events.
func AppendEvents(buf []byte, evs *eventgrpcv1.Events) ([]byte, error) {
	n := proto.Size(evs)
	buf = protowire.AppendVarint(buf, uint64(n))
	return proto.MarshalOptions{}.MarshalAppend(buf, evs)
}

// Decode reads a message body written with AppendEvents: every part, in
// order. A body that is not such a sequence is a permanent error
// (fault.Permanent) naming the problem.
func Decode(body []byte) ([]*eventgrpcv1.Events, error) {
	var out []*eventgrpcv1.Events
	for len(body) > 0 {
		n, l := protowire.ConsumeVarint(body)
		if l < 0 {
			return nil, fault.Permanentf("event batch: bad length prefix")
		}
		body = body[l:]
		if n > uint64(len(body)) {
			return nil, fault.Permanentf("event batch: part of %d bytes exceeds the %d left", n, len(body))
		}
		ev := &eventgrpcv1.Events{}
		if err := proto.Unmarshal(body[:n], ev); err != nil {
			return nil, fault.Permanentf("event batch: %v", err)
		}
		out = append(out, ev)
		body = body[n:]
	}
	return out, nil
}
