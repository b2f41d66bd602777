// Package ingest maps errors to the statuses clients see, once, for every
// ingest edge.
package ingest

import (
	"context"
	"errors"
	"net/http"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/event-grpc/event-grpc/internal/fault"
)

// Status is how an error is reported to a client.
type Status struct {
	GRPC       codes.Code
	HTTP       int
	RetryAfter time.Duration // a hint; zero when none
}

// StatusOf classifies err for the edges: overload → RESOURCE_EXHAUSTED /
// 429 with a retry hint; bad input → INVALID_ARGUMENT / 400; a client that
// gave up → CANCELLED / DEADLINE_EXCEEDED; anything else → UNAVAILABLE /
// 503, which tells the client to retry.
func StatusOf(err error) Status {
	switch {
	case errors.Is(err, context.Canceled):
		return Status{GRPC: codes.Canceled, HTTP: 499}
	case errors.Is(err, context.DeadlineExceeded):
		return Status{GRPC: codes.DeadlineExceeded, HTTP: http.StatusGatewayTimeout}
	}
	switch fault.KindOf(err) {
	case fault.KindThrottled:
		after := fault.RetryAfter(err)
		if after <= 0 {
			after = time.Second
		}
		return Status{GRPC: codes.ResourceExhausted, HTTP: http.StatusTooManyRequests, RetryAfter: after}
	case fault.KindPermanent:
		return Status{GRPC: codes.InvalidArgument, HTTP: http.StatusBadRequest}
	}
	return Status{GRPC: codes.Unavailable, HTTP: http.StatusServiceUnavailable, RetryAfter: time.Second}
}
