// Package eventtype maps an ingested event to its type: the name the
// pipeline routes, stores and binds by, and the typed payload behind it.
//
// The type of an eventgrpcv1.Event is the protobuf message name of the
// value set in its eventOf oneof ("LaunchEvent", "AddToCartEvent", ...),
// which is also the Go type name of the payload. Everything here is read
// from the generated descriptors, so adding an event to
// proto/eventgrpc/v1/eventservice.proto and running `make proto` is all it
// takes for Name, Names, Payload and PayloadJSON to know it.
//
// CustomEvent, the escape hatch for types the proto does not know yet, is
// reported as "CustomEvent"; the client's own name is in CustomEvent.name
// and callers decide what to do with it.
package eventtype
