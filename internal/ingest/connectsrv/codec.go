package connectsrv

import (
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/event"
	"github.com/event-grpc/event-grpc/internal/ingest"
)

// jsonCodec is protojson as POST /v1/events reads and writes it: an
// unknown field is an error naming it (connect's own JSON codec drops
// unknown fields, so a misspelt field would vanish silently), and
// responses show every field, accepted: false included.
//
// An Events message of more than max events is refused by a pre-scan of
// the JSON (event.CountJSONEvents) before it is decoded.
type jsonCodec struct {
	name   string
	max    int           // 0: no pre-scan
	budget ingest.Budget // nil: refusals not counted
}

var (
	jsonUnmarshal = protojson.UnmarshalOptions{}
	jsonMarshal   = protojson.MarshalOptions{EmitUnpopulated: true}
)

// jsonCodecs replace connect's codecs of the same names.
func jsonCodecs(max int, budget ingest.Budget) []connect.HandlerOption {
	return []connect.HandlerOption{
		connect.WithCodec(jsonCodec{name: "json", max: max, budget: budget}),
		connect.WithCodec(jsonCodec{name: "json; charset=utf-8", max: max, budget: budget}),
	}
}

func (c jsonCodec) Name() string { return c.name }

func (c jsonCodec) Marshal(m any) ([]byte, error) {
	msg, err := protoMessage(m)
	if err != nil {
		return nil, err
	}
	return jsonMarshal.Marshal(msg)
}

func (c jsonCodec) Unmarshal(b []byte, m any) error {
	return countedUnmarshal(b, m, c.max, c.budget, event.CountJSONEvents, func(b []byte, msg proto.Message) error {
		if err := jsonUnmarshal.Unmarshal(b, msg); err != nil {
			return fmt.Errorf("body is not an Events message in JSON form: %w", err)
		}
		return nil
	})
}

// protoCodec is connect's binary codec with a pre-scan: an Events message
// of more than max events is refused on its wire bytes
// (event.CountEvents), before it is decoded, and counted in budget.
type protoCodec struct {
	max    int
	budget ingest.Budget // nil: not counted
}

func (protoCodec) Name() string { return "proto" }

func (protoCodec) Marshal(m any) ([]byte, error) {
	msg, err := protoMessage(m)
	if err != nil {
		return nil, err
	}
	return proto.Marshal(msg)
}

func (c protoCodec) Unmarshal(b []byte, m any) error {
	return countedUnmarshal(b, m, c.max, c.budget, event.CountEvents, proto.Unmarshal)
}

func protoMessage(m any) (proto.Message, error) {
	msg, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("%T is not a protobuf message", m)
	}
	return msg, nil
}

// countedUnmarshal decodes b into m with decode; an Events message of more
// than max events (0: no bound) is refused first, on its bytes (count),
// and counted in budget.
func countedUnmarshal(b []byte, m any, max int, budget ingest.Budget, count func([]byte, int) (int, error), decode func([]byte, proto.Message) error) error {
	msg, err := protoMessage(m)
	if err != nil {
		return err
	}
	if _, isEvents := m.(*eventgrpcv1.Events); isEvents && max > 0 {
		if _, err := count(b, max); err != nil {
			if errors.Is(err, event.ErrTooManyEvents) && budget != nil {
				budget.Refused(ingest.RefusedTooManyEvents)
			}
			return err
		}
	}
	return decode(b, msg)
}
