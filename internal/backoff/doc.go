// Package backoff computes exponential retry delays with full jitter and
// waits them out, aware of the context.
package backoff
