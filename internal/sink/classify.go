package sink

import (
	"errors"
	"time"

	"github.com/event-grpc/event-grpc/internal/fault"
)

// ThrottleHint is the retry hint the backends give the errors of a server
// that is too busy now (fault.Throttled).
const ThrottleHint = time.Second

// Unclassified reports whether err is an error without a class yet: not
// nil and not a *fault.Error. A backend's classification marks those and
// keeps the class of the others.
func Unclassified(err error) bool {
	var fe *fault.Error
	return err != nil && !errors.As(err, &fe)
}
