package event

import (
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/fault"
)

// ContentType names the wire form of the messages the pipeline publishes:
// a sequence of size-delimited Events (AppendEvents). One message may hold
// events of several types; the type of each is the event's own (its
// eventOf), never the routing key.
const ContentType = "application/x-protobuf-delimited; proto=eventgrpc.v1.Events"

// AppendEvents appends evs to buf as one part of a message body: its
// encoded size as a varint, then the encoded Events.
func AppendEvents(buf []byte, evs *eventgrpcv1.Events) ([]byte, error) {
	n := proto.Size(evs)
	buf = protowire.AppendVarint(buf, uint64(n))
	return proto.MarshalOptions{}.MarshalAppend(buf, evs)
}

// A message body can also be written in pieces, each event encoded once:
// an Events message is its fields back to back — the header (field 1) and
// each event (field 2), each a tag, a length and the encoded message — so a
// part is AppendPartSize(n) followed by fields totalling n bytes. The
// pipeline encodes every accepted event once with AppendEventField and
// assembles the parts for each destination from those bytes.

// Field numbers of Events on the wire.
const (
	eventsHeaderField = 1
	eventsEventField  = 2
)

// AppendHeaderField appends h as the header field of an Events message; a
// nil h appends nothing.
func AppendHeaderField(buf []byte, h *eventgrpcv1.Header) ([]byte, error) {
	if h == nil {
		return buf, nil
	}
	b, err := proto.MarshalOptions{}.MarshalAppend(nil, h)
	if err != nil {
		return buf, err
	}
	buf = protowire.AppendTag(buf, eventsHeaderField, protowire.BytesType)
	return protowire.AppendBytes(buf, b), nil
}

// AppendEventField appends ev as one events field of an Events message. On
// error buf is returned unchanged.
func AppendEventField(buf []byte, ev *eventgrpcv1.Event) ([]byte, error) {
	buf, _, err := appendEventField(buf, ev, proto.MarshalOptions{})
	return buf, err
}

// AppendStableEventField is AppendEventField with the event encoded
// deterministically (map entries in key order), so that one content always
// gives the same bytes, and returns those bytes (the event, without the
// field's tag and length) as well: a digest of the content hashes them, and
// the field itself is what AppendEventField would have written.
func AppendStableEventField(buf []byte, ev *eventgrpcv1.Event) (out, event []byte, err error) {
	return appendEventField(buf, ev, proto.MarshalOptions{Deterministic: true})
}

func appendEventField(buf []byte, ev *eventgrpcv1.Event, opts proto.MarshalOptions) (out, event []byte, err error) {
	start := len(buf)
	// Room for the tag and the longest length prefix, then the event; the
	// event is moved down over the unused prefix bytes.
	const reserve = 1 + 5 // tag, and a length below 2^35
	buf = append(buf, make([]byte, reserve)...)
	buf, err = opts.MarshalAppend(buf, ev)
	if err != nil {
		return buf[:start], nil, err
	}
	n := len(buf) - start - reserve
	pre := protowire.AppendTag(buf[start:start], eventsEventField, protowire.BytesType)
	pre = protowire.AppendVarint(pre, uint64(n))
	copy(buf[start+len(pre):], buf[start+reserve:])
	end := start + len(pre) + n
	return buf[:end], buf[start+len(pre) : end], nil
}

// AppendPartSize appends the length prefix of a part whose Events fields
// total n bytes.
func AppendPartSize(buf []byte, n int) []byte {
	return protowire.AppendVarint(buf, uint64(n))
}

// PartSizeLen is the length of the prefix AppendPartSize writes for n.
func PartSizeLen(n int) int {
	return protowire.SizeVarint(uint64(n))
}

// Decode reads a message body written with AppendEvents (or in pieces): every part, in
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
