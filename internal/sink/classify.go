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

// ClassifyBy marks err, an error of a backend's driver, by the server's
// error of type E in its chain: byServer gives its class. An error already
// classified keeps its class; one without an E (connection trouble, a
// timeout or cancelled context, a closed pool) is not about the data:
// transient.
func ClassifyBy[E error](err error, byServer func(E) error) error {
	if !Unclassified(err) {
		return err
	}
	var e E
	if errors.As(err, &e) {
		return byServer(e)
	}
	return fault.Transient(err)
}
