// Package event is what ingest and consume share about events: the wire
// codec of broker message bodies, the type names, and per-event accessors.
//
// A broker message body is a sequence of eventgrpc.v1.Events, each prefixed
// by its size as a protobuf varint (AppendEvents, Decode). One message may
// hold events of several types (JetStream packs per destination queue), so
// a consumer takes each event's type from the event itself (Name, TypeOf),
// never from the message's routing key.
//
// The type of an eventgrpcv1.Event is the protobuf message name of the
// value set in its eventOf oneof ("LaunchEvent", "AddToCartEvent", ...),
// which is also the Go type name of the payload. CustomEvent, the escape
// hatch for types the proto does not know yet, is reported as
// "CustomEvent"; the client's own name is in CustomEvent.name.
//
// AppendParams writes an event's payload as the JSON of the event table's
// event_params column (protojson's shape: proto field names, int64 as
// strings, unset fields left out) without protojson or protoreflect: the
// members table of each type, generated from the descriptors
// (params_gen.go, by `go generate ./internal/event`), lists its fields'
// getters and writers; members.go turns them into JSON, and a test holds
// the result equal to protojson for every type of the proto.
package event
