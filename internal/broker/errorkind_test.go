package broker

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/event-grpc/event-grpc/internal/fault"
)

func TestErrorKind(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("publish to x: %w", ErrUnroutable), "unroutable"},
		{fmt.Errorf("window full: %w", ErrOverloaded), "overloaded"},
		// The ingest and webhook refusals wrap the same sentinel.
		{fault.Throttled(fmt.Errorf("queue: %w", fault.ErrOverloaded), 0), "overloaded"},
		{fmt.Errorf("shutting down: %w", ErrClosed), "closed"},
		{fmt.Errorf("dial: %w", ErrUnavailable), "unavailable"},
		{fmt.Errorf("confirm: %w", context.DeadlineExceeded), "canceled"},
		{context.Canceled, "canceled"},
		{errors.New("something else"), "other"},
	} {
		if got := ErrorKind(c.err); got != c.want {
			t.Errorf("ErrorKind(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
