package ingest

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/event-grpc/event-grpc/internal/fault"
)

// Budget is the in-flight byte budget as the servers see it
// (pipeline.Pipeline): Reserve takes bytes before a request is read
// (fault.Throttled when they do not fit), Release gives them back, and
// Refused counts a request refused or cut off before it was read in full,
// by reason. Safe for concurrent use.
type Budget interface {
	Reserve(n int64) error
	Release(n int64)
	Refused(reason string)
}

// Reasons given to Budget.Refused by the servers (the values of
// pipeline.RefusalReasons).
const (
	RefusedTooLarge      = "too_large"
	RefusedTooManyEvents = "too_many_events"
	RefusedReadTimeout   = "read_timeout"
)

// ErrBodyTooLarge is wrapped by the refusal of a body whose declared
// length is over the limit (HTTP 413).
var ErrBodyTooLarge = errors.New("body too large")

// ReserveBody returns a middleware that holds a request's body bytes in b
// before the body is read: its Content-Length when it declares one (a
// length over max is refused at once, wrapping ErrBodyTooLarge), max when
// it does not. A budget that cannot take them refuses the request
// (fault.Throttled) and nothing is read; refuse answers both in the
// route's protocol. The bytes are held until the handler returns. The
// body must be read in full within timeout (0: no deadline) from the
// start of the request: a read that runs past it fails (the request is
// cut off, counted as read_timeout) and what it held is freed.
func ReserveBody(b Budget, max int64, timeout time.Duration, refuse func(w http.ResponseWriter, r *http.Request, err error)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodOptions || r.Method == http.MethodGet || r.Method == http.MethodHead {
				next.ServeHTTP(w, r)
				return
			}
			n := r.ContentLength
			if n > max {
				b.Refused(RefusedTooLarge)
				refuse(w, r, fmt.Errorf("%w: body of %d bytes is over the %d byte limit (HTTP_MAX_BODY_BYTES); send fewer events per request", ErrBodyTooLarge, n, max))
				return
			}
			if n < 0 {
				n = max
			}
			if err := b.Reserve(n); err != nil {
				refuse(w, r, err)
				return
			}
			defer b.Release(n)
			if timeout > 0 && n > 0 {
				rc := http.NewResponseController(w)
				if err := rc.SetReadDeadline(time.Now().Add(timeout)); err == nil {
					r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc, b: b}
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// deadlineBody counts a read cut off by the read deadline, and lifts the
// deadline once the body is read in full, so that a slow answer does not
// fail the connection's next read.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	b    Budget
	once sync.Once
}

func (d *deadlineBody) Read(p []byte) (int, error) {
	n, err := d.ReadCloser.Read(p)
	if err != nil {
		d.once.Do(func() {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				d.b.Refused(RefusedReadTimeout)
				return
			}
			_ = d.rc.SetReadDeadline(time.Time{})
		})
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = fault.Permanent(fmt.Errorf("the body was not sent in full within the read timeout (INGEST_READ_TIMEOUT): %w", err))
		}
	}
	return n, err
}
