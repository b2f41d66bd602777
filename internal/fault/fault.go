package fault

import (
	"errors"
	"fmt"
	"time"
)

// Kind is the class of an error.
type Kind int

const (
	// KindTransient errors may succeed when tried again later: connection
	// loss, timeouts, 5xx. The default for unclassified errors.
	KindTransient Kind = iota
	// KindPermanent errors fail the same way every time: bad data, 4xx.
	KindPermanent
	// KindThrottled errors mean "too much, try later": a full buffer, a rate
	// limit, HTTP 429. They carry a retry hint.
	KindThrottled
)

func (k Kind) String() string {
	switch k {
	case KindPermanent:
		return "permanent"
	case KindThrottled:
		return "throttled"
	default:
		return "transient"
	}
}

// Error wraps an error with its class.
type Error struct {
	Kind       Kind
	RetryAfter time.Duration // a hint for KindThrottled; zero when unknown
	Err        error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Permanent marks err as one that will fail again if retried.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: KindPermanent, Err: err}
}

// Permanentf is Permanent(fmt.Errorf(format, args...)).
func Permanentf(format string, args ...any) error {
	return Permanent(fmt.Errorf(format, args...))
}

// Transient marks err as one that may succeed later.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: KindTransient, Err: err}
}

// Throttled marks err as an overload refusal, with a retry hint.
func Throttled(err error, retryAfter time.Duration) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: KindThrottled, RetryAfter: retryAfter, Err: err}
}

// KindOf reports the class of err; unclassified errors are transient.
func KindOf(err error) Kind {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Kind
	}
	return KindTransient
}

// IsPermanent reports whether err is classified permanent.
func IsPermanent(err error) bool { return err != nil && KindOf(err) == KindPermanent }

// IsThrottled reports whether err is classified throttled.
func IsThrottled(err error) bool { return err != nil && KindOf(err) == KindThrottled }

// RetryAfter returns the retry hint of a throttled error, or zero.
func RetryAfter(err error) time.Duration {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.RetryAfter
	}
	return 0
}
