package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
)

// ErrUnauthorized is the cause of every 401: a signature or token that is
// missing or does not match.
var ErrUnauthorized = errors.New("unauthorized")

// Where a shared token may be sent, for providers without a signature
// scheme of their own.
const (
	TokenHeader = "X-Webhook-Token"
	TokenQuery  = "token"
)

// equal compares two secrets in constant time, without leaking their
// lengths (it compares their SHA-256 digests).
func equal(a, b string) bool {
	ha := sha256.Sum256([]byte(a))
	hb := sha256.Sum256([]byte(b))
	return hmac.Equal(ha[:], hb[:])
}

// verifyToken accepts a request that carries secret in the X-Webhook-Token
// header or the token query parameter. An empty secret accepts anything.
func verifyToken(secret string, req *request) error {
	if secret == "" {
		return nil
	}
	got := req.header.Get(TokenHeader)
	if got == "" {
		got = req.query.Get(TokenQuery)
	}
	if got == "" {
		return errors.Join(ErrUnauthorized, errors.New("no token: send it in the "+TokenHeader+" header or the ?"+TokenQuery+"= parameter"))
	}
	if !equal(got, secret) {
		return errors.Join(ErrUnauthorized, errors.New("the token does not match"))
	}
	return nil
}
