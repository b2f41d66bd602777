// Package segment is the Segment HTTP tracking API on the HTTP port, so
// the SDKs teams already ship (analytics.js / analytics-next,
// analytics-node, analytics-go, RudderStack's) can point at event-grpc by
// changing one URL: POST /v1/track, /v1/identify, /v1/page, /v1/screen,
// /v1/group, /v1/alias and /v1/batch, and analytics.js's short paths
// /v1/t, /v1/i, /v1/p, /v1/s, /v1/g, /v1/a, /v1/b.
//
// A request is admitted against the pipeline's byte budget and its
// declared length before its body is read; the write key (the HTTP
// basic-auth user, or the body's writeKey as analytics.js sends it) is an
// API key of AUTH_API_KEYS and takes that client's rate limit (any key is
// accepted with AUTH_MODE=off). The body may be gzip-compressed; it is
// read bounded in compressed and decompressed bytes. Each message becomes
// a generic event (TrackEvent, IdentifyEvent, PageEvent, ScreenEvent,
// GroupEvent, AliasEvent) and goes through the same pipeline Dispatcher as
// every other source: 200 only after the broker's durable confirm.
//
// The parser (Parse) is separate from the handler and fuzzed.
package segment
