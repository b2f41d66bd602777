package auth

import (
	"crypto/sha256"
	"errors"
)

// ErrWriteKeyHMAC refuses the Segment API's write keys in hmac mode: a
// write key is a bearer credential sent with every request, which the
// signatures of AUTH_MODE=hmac exist to avoid.
var ErrWriteKeyHMAC = errors.New("the Segment API's write keys are bearer credentials: they work with AUTH_MODE=apikey (or off), not hmac")

// WriteKey authenticates a Segment API write key (the HTTP basic-auth
// user, or the body's writeKey) and returns the client id whose API key it
// is: a write key is a client's AUTH_API_KEYS key, so it takes that
// client's rate limit. With mode off it accepts any key, an empty one
// included, and returns "" (the rate limiter then keys on the peer's IP).
// The error names the problem and never holds key material; refusals are
// counted as the other modes' are. Safe for concurrent use.
func (a *Authenticator) WriteKey(key string) (string, error) {
	switch a.mode {
	case ModeOff:
		return "", nil
	case ModeHMAC:
		a.refused(fail(ReasonMalformed, ""))
		return "", ErrWriteKeyHMAC
	}
	if key == "" {
		a.refused(fail(ReasonMissing, ""))
		return "", errors.New("the write key is missing: send it as the HTTP basic-auth user (or writeKey in the body)")
	}
	id, ok := a.byKey[sha256.Sum256([]byte(key))]
	switch {
	case !ok:
		a.refused(fail(ReasonBadKey, ""))
		return "", errors.New("the write key does not match a configured client's API key")
	case id == "":
		a.refused(fail(ReasonBadKey, ""))
		return "", errors.New("the write key is the API key of several clients; give each client its own key")
	}
	a.accepted(id)
	return id, nil
}
