// Package fault classifies errors where they happen — permanent, transient or
// throttled — so that the edges (gRPC status, HTTP status, retry and
// dead-letter decisions) can map them once with errors.As.
//
// An unclassified error is treated as transient by the consumers (retry
// without spending the retry budget) and as UNAVAILABLE by the ingest edges:
// the safe choice when it is not known whether trying again can help.
package fault
