// Package bench is the load generator behind `event-grpc bench`: it calls
// EventService.dispatch over real gRPC from many workers and reports
// throughput, latency and how every sent event ended. It sends with the Go
// SDK's request path, client.Sender (connect-go, gRPC protocol, HTTP/2
// without TLS), one Sender, thus one connection, per Config.Conns; before
// the load it waits, within DialTimeout, until the service answered on
// every connection (Sender.Ping).
//
// Load is made to look like production traffic: a pool of about a thousand
// synthetic users, each with one consistent Header (session, device, user,
// app, attribution: all 24 fields), and batches drawn from a few thousand
// pre-built events whose type mix is skewed the way app analytics is (page
// and widget views and clicks dominate; carts, purchases, streams and
// reviews are rarer; a few CustomEvents). Every field of every typed payload
// is filled with a plausible value, coherent within the event (the product
// id, name, brand and price belong together). Each sent event gets a fresh
// client-side UUIDv7 id (or none, with --ids=false, so the service mints
// one) and the current time; --poison mixes in invalid events to exercise
// per-event rejection.
//
// Every sent event is counted exactly once:
//
//	sent = acked + rejected + refused
//
// acked and rejected come from Response.accepted and Response.rejected;
// refused are the events of dispatches that failed as a whole (a gRPC
// error such as UNAVAILABLE or RESOURCE_EXHAUSTED, counted by code). A
// response whose counts do not add up to its batch size is counted as
// mismatched and its missing events as unanswered, so a service bug shows
// instead of hiding in the totals.
//
// Memory is bounded: the event pool is built once, each worker reuses its
// request, latency goes into a fixed-size log-bucketed histogram (about
// 1.6% relative error), and --out writes accepted ids through a fixed
// buffer.
//
// Command parses the CLI flags and prints the summary; Run is the same
// load in-process, for tests and the chaos suite.
package bench
