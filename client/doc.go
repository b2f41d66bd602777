// Package client is the Go SDK of event-grpc: it batches tracked events
// and sends them to EventService.dispatch, delivering each event at least
// once and, because every event carries an id minted when it is tracked,
// stored exactly once.
//
//	c, err := client.New(client.Config{URL: "http://localhost:8019", ClientID: "backend", APIKey: key})
//	...
//	c.Track(&eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_LaunchEvent{LaunchEvent: &eventgrpcv1.LaunchEvent{}}})
//	...
//	err = c.Close(ctx) // delivers what is queued, within ctx's deadline
//
// Behaviour:
//
//   - Track mints a UUIDv7 id and an epoch-milliseconds timestamp for an
//     event that has none, so a retried request never stores an event twice.
//   - Events are sent in batches of at most MaxBatchEvents and
//     MaxBatchBytes, at least every FlushInterval, one request at a time.
//   - The queue is bounded in events and bytes (MaxQueueEvents,
//     MaxQueueBytes). Track refuses an event that does not fit with
//     ErrQueueFull: it is counted in Stats().Dropped and reported to
//     OnDropped, never lost silently.
//   - A request refused as a whole with unavailable or resource_exhausted
//     (carrying the server's retry hint), or that timed out or could not
//     connect, is retried with exponential backoff and full jitter, waiting
//     at least the server's hint (the retry-after-ms metadata). Events the
//     server reports in Response.results as not yet durable (reason starting
//     "UNAVAILABLE:" or "RESOURCE_EXHAUSTED:") are retried the same way.
//   - Every other per-event rejection (validation) and every other refusal
//     (unauthenticated, invalid_argument, resource_exhausted without a hint:
//     request too large) is final: counted in Stats().Rejected and reported
//     to OnRejected, never retried.
//   - Flush(ctx) returns once everything tracked before it was settled;
//     Close(ctx) stops taking events and delivers the queue within ctx's
//     deadline, reporting what it could not deliver as dropped.
//
// Transport: the Connect protocol (binary protobuf over HTTP POST, with
// connect-go) to the service's HTTP port, the default, because it works
// through any HTTP proxy and load balancer and needs no HTTP/2; or gRPC
// (Protocol "grpc", over HTTP/2 without TLS for http:// URLs) to the gRPC
// port. Authentication: ClientID with APIKey (AUTH_MODE=apikey) or with
// HMACSecret (AUTH_MODE=hmac; over Connect the signature covers the HTTP
// body as sent, over gRPC the deterministic protobuf encoding, as the
// HTTP and gRPC ports check them; so with hmac, use ProtocolGRPC with the
// gRPC port only).
//
// A Client is safe for concurrent use.
package client
