// Package tail is the live tap of accepted events (`event-grpc tail`,
// GET /v1/tail, the status page's tail): a Hub that the ingest path offers
// every dispatched request to, and bounded subscribers that filter, sample
// and render what was accepted.
//
// The tap never slows ingest: with no subscriber, Publish is one atomic
// load; with subscribers, it is one non-blocking channel send per
// subscriber. A subscriber that reads too slowly loses tail messages —
// counted in eventgrpc_tail_dropped_events_total — never events.
package tail
