// Package auth authenticates the senders of events on the gRPC service and on
// every HTTP ingest route.
//
// Modes (AUTH_MODE):
//
//   - off: no authentication. Allowed anywhere, but it must be chosen
//     explicitly outside ENV=local.
//   - apikey: the client sends `x-client-id: <id>` and
//     `authorization: Bearer <key>` (gRPC metadata or HTTP headers). Keys are
//     compared as SHA-256 digests in constant time, so neither the content
//     nor the length of a key leaks through timing.
//   - hmac: the client sends `x-client-id: <id>`, `x-timestamp: <unix
//     milliseconds>` and `x-signature: hex(HMAC-SHA256(secret, timestamp +
//     "." + body))`, where timestamp is the x-timestamp value exactly as sent
//     and body is the raw HTTP request body or, for gRPC, the request message
//     encoded with proto.MarshalOptions{Deterministic: true}. Requests whose
//     timestamp is more than MaxSkew away from the server clock are refused,
//     and a signature that was already accepted is refused while its
//     timestamp would still pass (a bounded replay cache), so a captured
//     request cannot be sent again. Sign and SignGRPC build the headers;
//     sign every attempt anew (a retry with the old signature is a replay).
//
// Deterministic protobuf encoding is stable for one implementation, not a
// canonical form across languages: it sorts map entries (CustomEvent.params)
// and writes known fields in field-number order, which the official
// implementations agree on, but clients outside Go should check their
// signatures against this package's tests or use the HTTP JSON route.
//
// The authenticated client id travels in the request context (ClientID) for
// rate limits and accounting. Failures answer UNAUTHENTICATED / HTTP 401 with
// a message naming what is missing or malformed; an unknown client and a
// wrong key get the same message. Key material never appears in errors,
// logs or metrics. Outcomes are counted in eventgrpc_auth_failures_total
// {reason} and eventgrpc_auth_successes_total{client}.
package auth
