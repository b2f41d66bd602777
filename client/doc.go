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
// Generic calls (the Segment spec's), next to the typed events of Track:
//
//	c.Identify("user-42", client.Properties{"email": "ada@example.com", "plan": "pro"})
//	c.TrackEvent("Order Completed", client.Properties{"revenue": 49.5, "items": []any{map[string]any{"sku": "a1"}}})
//	c.Page("Pricing", client.Properties{"path": "/pricing"}, client.WithCategory("docs"))
//	c.Screen("Settings", nil)
//	c.Group("acme", client.Properties{"employees": 120})
//	c.Alias("user-42", "")            // "" is the current identity
//	c.TrackEvent("Logged In", nil, client.WithUserID("user-7"), client.WithTimestamp(t), client.WithMessageID(id))
//	c.Reset()                         // at logout: forget the user, new anonymous id
//	c.SetOptOut(true)                 // nothing tracked, queued or sent until SetOptOut(false)
//
// They land in the tables tracks, identifies, pages, screens, groups and
// aliases, properties and traits as JSON. Properties are any values
// encoding/json encodes (nested maps and slices, numbers, booleans, nil,
// unicode strings, tagged structs); bad input (an empty event name, user
// id or group id; a value JSON cannot hold) is refused at the call with
// an error naming it.
//
// Identity: every generic call carries the client's anonymous id (a
// random UUID minted once, or Config.AnonymousID) and the user id given
// to the last Identify; WithUserID and WithAnonymousID override them for
// one call; Reset forgets the user and mints a new anonymous id. Typed
// events (Track) take their user from Config.Header, as before.
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
//     connect, is retried with exponential backoff and jitter, waiting
//     at least the server's hint (the retry-after-ms metadata). Events the
//     server reports in Response.results as retryable (EventResult.retryable:
//     valid but not durable yet) are retried the same way; only a service
//     older than that field (code UNSPECIFIED) is read by its reason's
//     "UNAVAILABLE:" or "RESOURCE_EXHAUSTED:" prefix.
//   - Every other per-event rejection (its code: INVALID, TOO_LARGE,
//     CONFLICT, INTERNAL) and every other refusal (unauthenticated,
//     invalid_argument, resource_exhausted without a hint: request too
//     large) is final: counted in Stats().Rejected and reported once to
//     OnRejected with its code and reason, never retried.
//   - Flush(ctx) returns once everything tracked before it was settled;
//     Close(ctx) stops taking events and delivers the queue within ctx's
//     deadline, reporting what it could not deliver as dropped (or, with
//     StateDir, keeping it there for the next New: Stats().Saved).
//   - Compression: request bodies of 1 KiB or more (CompressMinBytes) go
//     gzip-compressed over Connect (Content-Encoding: gzip); Compression
//     CompressionNone turns it off. ProtocolGRPC sends as is unless
//     Compression is CompressionGzip (grpc-encoding gzip, which the gRPC
//     port decodes).
//   - StateDir (optional) keeps the queue in a journal of append-only
//     segment files (written as events are queued, fsynced every
//     FlushInterval, before each send and at Flush and Close, removed as
//     events are delivered, bounded like the queue by MaxQueueEvents and
//     MaxQueueBytes), and the identity and opt-out in state.json; New
//     reloads both, so events tracked while the service was unreachable
//     survive a restart of the program, and are stored once (their ids were
//     minted when tracked). One Client per directory (a lock file says so).
//   - Opt-out (SetOptOut, Config.OptedOut, kept in StateDir): while opted
//     out, calls track nothing (Stats().OptedOut counts them) and what was
//     queued is dropped unsent.
//   - Logger (a *slog.Logger) is told of sends and answers (debug),
//     retries (info), rejections, drops and StateDir failures (warn, error).
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
// Sender is the request path alone: NewSender takes the same Config
// (its transport fields), and Sender.Send sends one Events request, as
// built by the caller, and returns the service's Response or the error of
// the request, with no batching, retry or id minting. A Client sends every
// attempt of every batch through one. The load generator of
// `event-grpc bench` (package client/bench) is built on it.
//
//	s, err := client.NewSender(client.Config{URL: "http://localhost:8017", Protocol: client.ProtocolGRPC})
//	...
//	resp, err := s.Send(ctx, &eventgrpcv1.Events{Header: h, Events: evs})
//
// A Client and a Sender are safe for concurrent use.
package client
