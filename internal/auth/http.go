package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Middleware authenticates requests and puts the client id in their
// context; refusals are 401 (413 for an hmac body over MaxBodyBytes) with
// {"error": "..."}. In hmac mode it reads the body, bounded by MaxBodyBytes,
// to verify the signature and hands next an identical body. With mode off
// it returns next unchanged.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	if a.mode == ModeOff {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := func() ([]byte, *failure) {
			b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.maxBody))
			if err != nil {
				if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
					return nil, &failure{reason: ReasonTooLarge, status: http.StatusRequestEntityTooLarge,
						msg: fmt.Sprintf("body is over the %d byte limit (HTTP_MAX_BODY_BYTES)", mbe.Limit)}
				}
				return nil, &failure{reason: ReasonMalformed, status: http.StatusBadRequest, msg: "read body: " + err.Error()}
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
			return b, nil
		}
		id, f := a.authenticate(r.Header.Values, body)
		if f != nil {
			a.refused(f)
			if f.status == http.StatusUnauthorized && a.mode == ModeAPIKey {
				w.Header().Set("WWW-Authenticate", `Bearer realm="event-grpc"`)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(f.status)
			json.NewEncoder(w).Encode(map[string]string{"error": f.msg})
			return
		}
		a.accepted(id)
		next.ServeHTTP(w, r.WithContext(WithClientID(r.Context(), id)))
	})
}
