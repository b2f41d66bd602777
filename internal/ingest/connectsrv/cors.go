package connectsrv

import (
	"net/http"

	connectcors "connectrpc.com/cors"
	"github.com/rs/cors"

	"github.com/event-grpc/event-grpc/internal/auth"
)

// allowedHeaders are the request headers a browser may send: those of the
// Connect and gRPC-Web protocols, and the credentials of internal/auth.
func allowedHeaders() []string {
	return append(connectcors.AllowedHeaders(),
		"Connect-Accept-Encoding", "Content-Encoding", "Grpc-Accept-Encoding", "Grpc-Encoding",
		auth.HeaderAuthorization, auth.HeaderClientID, auth.HeaderTimestamp, auth.HeaderSignature,
	)
}

// exposedHeaders are the response headers a browser script may read: the
// gRPC-Web status headers (trailers-only answers), the retry hint, and the
// Connect encodings.
func exposedHeaders() []string {
	return append(connectcors.ExposedHeaders(),
		HeaderRetryAfter, HeaderRetryAfterMs,
		"Connect-Accept-Encoding", "Connect-Content-Encoding", "Grpc-Accept-Encoding", "Grpc-Encoding",
		"WWW-Authenticate",
	)
}

// withCORS answers preflights from origins (or any origin for "*") and
// adds Access-Control-Allow-Origin and -Expose-Headers to their requests.
// Requests from other origins get no CORS headers, so browsers refuse them.
// Credentials (cookies) are not allowed: clients authenticate by headers.
func withCORS(origins []string, next http.Handler) http.Handler {
	return cors.New(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: connectcors.AllowedMethods(),
		AllowedHeaders: allowedHeaders(),
		ExposedHeaders: exposedHeaders(),
		MaxAge:         7200, // seconds; Chromium caps it at 2 h
	}).Handler(next)
}
