// Package ratelimit refuses ingest requests beyond a per-client rate: one
// token bucket per key, one token per request (gRPC call or HTTP request).
//
// The key of a request is, in order:
//
//  1. the authenticated client id (auth.ClientID), when authentication is on;
//  2. the peer IP address (the TCP peer: behind a proxy that is the proxy):
//     an IPv4 address as is, an IPv6 address by its /64 prefix, since one
//     host commonly holds a whole /64 and could rotate through it to reset
//     its bucket.
//
// The two kinds of key live in separate namespaces ("c:<id>" and
// "ip4:"/"ip6:"), so an address bucket never shares tokens with, or
// resets, a client's bucket.
//
// An unauthenticated x-client-id is never a key, not even when it names a
// client listed in RATE_LIMIT_CLIENTS: it is chosen by the sender, who
// could spend a listed client's tokens, take its larger limit, or fill the
// key table with made-up ids.
//
// The limit of a key is its RATE_LIMIT_CLIENTS entry, else the default
// (RATE_LIMIT_RPS, RATE_LIMIT_BURST); a rate of 0 is unlimited and tracks
// nothing. Put the limiter after authentication, so the id is known.
//
// Buckets are bounded: a bucket idle for IdleTimeout whose tokens have
// refilled is dropped (it would behave the same as a new one), and at most
// MaxKeys buckets exist; when that many are held, a request needing a new
// bucket first sweeps every idle one (at most once a second), then evicts
// the least recently used, counted in eventgrpc_ratelimit_table_full_total:
// a new sender is never refused because others fill the table. A
// refusal is RESOURCE_EXHAUSTED with a retry-after-ms trailer over gRPC and
// 429 with Retry-After (seconds) over HTTP, counted in
// eventgrpc_ratelimit_refused_total{client} (client = a RATE_LIMIT_CLIENTS
// name or "other", to bound the label's values).
//
// The limiter starts no goroutines: idle buckets are swept during calls, at
// most once a minute.
package ratelimit
