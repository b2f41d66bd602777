package auth

import (
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// Timestamp is the x-timestamp value for ts: unix milliseconds.
func Timestamp(ts time.Time) string { return strconv.FormatInt(ts.UnixMilli(), 10) }

// Sign returns the x-signature for a request sent at ts with body:
// hex(HMAC-SHA256(secret, Timestamp(ts) + "." + body)). Send Timestamp(ts)
// as x-timestamp.
func Sign(secret []byte, ts time.Time, body []byte) string {
	return hex.EncodeToString(mac(secret, Timestamp(ts), body))
}

// SignHTTP sets x-client-id, x-timestamp and x-signature on h for an HTTP
// request with body.
func SignHTTP(h http.Header, clientID string, secret []byte, ts time.Time, body []byte) {
	h.Set(HeaderClientID, clientID)
	h.Set(HeaderTimestamp, Timestamp(ts))
	h.Set(HeaderSignature, Sign(secret, ts, body))
}

// SignGRPC returns the x-timestamp and x-signature metadata for a gRPC
// request message sent at ts; the signed bytes are the message encoded with
// proto.MarshalOptions{Deterministic: true}. Add x-client-id, e.g.
//
//	md, err := auth.SignGRPC(secret, time.Now(), req)
//	md.Set("x-client-id", id)
//	ctx = metadata.NewOutgoingContext(ctx, md)
func SignGRPC(secret []byte, ts time.Time, msg proto.Message) (metadata.MD, error) {
	b, err := deterministic.Marshal(msg)
	if err != nil {
		return nil, err
	}
	return metadata.Pairs(HeaderTimestamp, Timestamp(ts), HeaderSignature, Sign(secret, ts, b)), nil
}

// ParseAuthorization splits an Authorization header value into its scheme
// and credentials (RFC 9110 §11.4: a token, one or more spaces, the rest).
// The scheme is returned as sent (compare it with strings.EqualFold). Errors
// never contain the credentials.
func ParseAuthorization(header string) (scheme, credentials string, err error) {
	if header == "" {
		return "", "", errors.New("empty")
	}
	i := strings.IndexByte(header, ' ')
	if i < 0 {
		return "", "", errors.New("want <scheme> <credentials>")
	}
	scheme = header[:i]
	if scheme == "" {
		return "", "", errors.New("empty scheme")
	}
	for j := 0; j < len(scheme); j++ {
		if !isTokenChar(scheme[j]) {
			return "", "", errors.New("scheme is not a token")
		}
	}
	credentials = strings.Trim(header[i+1:], " \t")
	if credentials == "" {
		return "", "", errors.New("empty credentials")
	}
	for j := 0; j < len(credentials); j++ {
		// Keys and signatures are printable ASCII; anything else (controls,
		// and bytes of non-ASCII text such as U+0085 or U+00A0, which other
		// code might trim as space) is refused rather than guessed at.
		if c := credentials[j]; c < 0x20 || c >= 0x7f {
			return "", "", errors.New("credentials contain characters other than printable ASCII")
		}
	}
	return scheme, credentials, nil
}

// isTokenChar reports whether c may appear in an RFC 9110 token.
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
