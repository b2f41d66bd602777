package connectsrv

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"connectrpc.com/connect"
)

// maxRefusalBytes bounds what is kept of a middleware's own answer.
const maxRefusalBytes = 16 << 10

// rewriteRefusals runs mw, an HTTP middleware that either passes the
// request on or answers it itself with an HTTP status and
// {"error": "..."}. Passed on, the request reaches next with the real
// writer; answered, the answer is rewritten as an RPC error of the
// caller's protocol, so Connect and gRPC-Web clients get a code and a
// message instead of a body they cannot read.
func rewriteRefusals(mw func(http.Handler) http.Handler, ew *connect.ErrorWriter, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		rec := &recorder{header: http.Header{}}
		mw(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			rec.passed = true
			for k, vs := range rec.header {
				w.Header()[k] = vs
			}
			next.ServeHTTP(w, r)
		})).ServeHTTP(rec, r)
		if rec.passed {
			return
		}
		writeError(ew, w, r, rec.asError())
	})
}

// recorder keeps a middleware's own answer.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	passed bool
}

func (rec *recorder) Header() http.Header { return rec.header }

func (rec *recorder) WriteHeader(code int) {
	if rec.status == 0 {
		rec.status = code
	}
}

func (rec *recorder) Write(p []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if room := maxRefusalBytes - rec.body.Len(); room > 0 {
		rec.body.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// asError turns the recorded answer into a Connect error: the code for
// its status, its {"error"} text as the message, its Retry-After as the
// hint and its WWW-Authenticate kept.
func (rec *recorder) asError() *connect.Error {
	msg := strings.TrimSpace(rec.body.String())
	var body struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(rec.body.Bytes(), &body) == nil && body.Error != "" {
		msg = body.Error
	}
	if msg == "" {
		msg = http.StatusText(rec.status)
	}
	ce := connect.NewError(codeOfStatus(rec.status), errors.New(msg))
	if d := RetryHint(rec.header); d > 0 {
		SetRetryHint(ce.Meta(), d)
	}
	if v := rec.header.Get("WWW-Authenticate"); v != "" {
		ce.Meta().Set("WWW-Authenticate", v)
	}
	return ce
}

// codeOfStatus maps the HTTP status of a refusal to the code the other
// ingest edges use for the same refusal.
func codeOfStatus(status int) connect.Code {
	switch status {
	case http.StatusBadRequest:
		return connect.CodeInvalidArgument
	case http.StatusUnauthorized:
		return connect.CodeUnauthenticated
	case http.StatusForbidden:
		return connect.CodePermissionDenied
	case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		return connect.CodeResourceExhausted
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return connect.CodeUnavailable
	}
	return connect.CodeUnknown
}
