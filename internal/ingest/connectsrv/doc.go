// Package connectsrv serves EventService.dispatch on the HTTP port over the
// Connect protocol and gRPC-Web (and gRPC, for HTTP/2 clients), with the
// same authentication, limits, per-event results and error mapping as the
// grpc-go server on the gRPC port; the pipeline counts its events under the
// source "connect".
//
// # Wire contract (what SDKs rely on)
//
// Path: POST /eventgrpc.v1.EventService/dispatch. Request Events, response
// Response, the messages of proto/eventgrpc/v1/eventservice.proto.
//
//   - Connect unary: Content-Type application/proto (binary) or
//     application/json (protojson; field names as in the proto, or their
//     lowerCamel JSON names), optional Connect-Protocol-Version: 1,
//     Connect-Timeout-Ms. Success is HTTP 200 with the Response; an error is
//     the Connect JSON error {"code": "resource_exhausted", "message": ...}
//     with the HTTP status of its code (429, 503, 401, 400, ...).
//   - gRPC-Web: Content-Type application/grpc-web or
//     application/grpc-web+proto (binary framing: a 5-byte prefix, flag 0
//     and the big-endian length, then the message; the response ends with a
//     trailer frame, flag 0x80). The text form (grpc-web-text, base64) is not
//     served. Errors come as grpc-status / grpc-message in the headers
//     (trailers-only response) or in the trailer frame.
//   - gRPC: application/grpc over HTTP/2 (h2c on the HTTP port). Native gRPC
//     clients should keep using the gRPC port.
//
// Retry hint: an overloaded or rate-limited service answers
// resource_exhausted (Connect HTTP 429) and a refused-but-retryable failure
// (broker down) unavailable (503), both with
//
//	retry-after-ms: <milliseconds>   (the hint, as the gRPC port's trailer)
//	retry-after: <seconds, rounded up, at least 1>   (the HTTP convention)
//
// in the error's metadata: HTTP response headers for Connect, headers of a
// trailers-only response or the trailer frame for gRPC-Web. A client waits
// at least retry-after-ms before retrying. resource_exhausted without a
// hint means the request itself is too large (HTTP_MAX_BODY_BYTES): do not
// retry it as is. Per-event rejections are in Response.results and are
// never retryable.
//
// Authentication: the headers of internal/auth (x-client-id plus
// "authorization: Bearer <key>" for AUTH_MODE=apikey; x-client-id,
// x-timestamp, x-signature for AUTH_MODE=hmac). For hmac the signature
// covers the HTTP request body exactly as sent — the Connect binary or JSON
// message, or the gRPC-Web frame(s) including their 5-byte prefixes, after
// any Content-Encoding: hex(HMAC-SHA256(secret, x-timestamp + "." + body)).
// (The gRPC port signs the deterministic protobuf encoding instead; there
// is no raw body there.) A refusal is unauthenticated (HTTP 401).
//
// CORS: off unless CORS_ALLOWED_ORIGINS lists origins; then preflights from
// those origins are answered with the methods, request headers and exposed
// response headers Connect and gRPC-Web browser clients use (see cors.go).
package connectsrv
