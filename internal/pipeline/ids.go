package pipeline

import (
	"context"
	"crypto/sha256"
	"net/http"
	"strconv"

	"github.com/google/uuid"
	"google.golang.org/grpc/metadata"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/auth"
	"github.com/event-grpc/event-grpc/internal/dedupe"
)

// Event ids are scoped to their sender.
//
// The sender of a request is Header.clientId. When the request was
// authenticated (AUTH_MODE apikey or hmac) the pipeline sets Header.clientId
// to the authenticated client id, whatever the client wrote there, so the
// scope cannot be borrowed. With AUTH_MODE=off nothing is authenticated:
// the scope is the clientId the request claims, and a sender that claims
// another's scope meets the content digest below instead of a silent OK.
//
// Both the dedupe window and storage key an event by (client_id, event_id):
// the window as "<len(scope)>:<scope>:<id>", the tables by their unique key
// (client_id, event_id). So two senders' events with the same id are both
// published and both stored, while one sender's retry of an event still
// makes one row. Within one scope, the window keeps a digest of each
// event's content (as the client sent it, before the server fills its
// timestamp) beside its id: the same id and digest is a duplicate (accepted,
// reason "duplicate", not published again); the same id with another digest
// is rejected with "conflict: …", which no retry can fix.
//
// An event without an id gets a UUIDv7 minted at ingest, different on each
// attempt — unless the request carries an idempotency key (HTTP header or
// gRPC metadata Idempotency-Key, else X-Request-Id): then the id is the
// UUIDv5 of (sender scope, key, the event's index in the request), so a
// retry of the same request with the same key yields the same ids, which
// the window and storage dedupe like client-given ones.

// requestKeyHeaders name the idempotency key of a request, first found wins.
var requestKeyHeaders = [...]string{"Idempotency-Key", "X-Request-Id"}

type requestKeyCtx struct{}

// WithRequestKey returns ctx carrying the idempotency key of a request ("":
// none); see RequestKeyOf.
func WithRequestKey(ctx context.Context, key string) context.Context {
	if key == "" {
		return ctx
	}
	return context.WithValue(ctx, requestKeyCtx{}, key)
}

// RequestKeyOf is the idempotency key an HTTP request's headers carry
// (Idempotency-Key, else X-Request-Id), or "".
func RequestKeyOf(h http.Header) string {
	for _, name := range requestKeyHeaders {
		if v := h.Get(name); v != "" {
			return v
		}
	}
	return ""
}

// requestKey is the idempotency key set by WithRequestKey, else the one in
// the incoming gRPC metadata, else "".
func requestKey(ctx context.Context) string {
	if k, ok := ctx.Value(requestKeyCtx{}).(string); ok {
		return k
	}
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return ""
	}
	for _, name := range requestKeyHeaders {
		if v := md.Get(name); len(v) > 0 && v[0] != "" {
			return v[0]
		}
	}
	return ""
}

// scopeOf sets the request header's clientId to the authenticated client
// id, when there is one, and returns the sender scope.
func scopeOf(ctx context.Context, req *eventgrpcv1.Events) string {
	if id := auth.ClientID(ctx); id != "" {
		if req.Header == nil {
			req.Header = &eventgrpcv1.Header{}
		}
		req.Header.ClientId = id
		return id
	}
	return req.GetHeader().GetClientId()
}

// idSpace is the UUIDv5 namespace of ids minted from an idempotency key.
var idSpace = uuid.MustParse("6f1c3e52-7a0b-4d55-9f3e-2b8c1d4e5a60")

// keyedID is the id of the event at index i of a request with idempotency
// key key from scope.
func keyedID(scope, key string, i int) string {
	name := strconv.Itoa(len(scope)) + ":" + scope + ":" + strconv.Itoa(len(key)) + ":" + key + ":" + strconv.Itoa(i)
	return uuid.NewSHA1(idSpace, []byte(name)).String()
}

// windowKey is the dedupe window's key of id from scope.
func windowKey(scope, id string) string {
	return strconv.Itoa(len(scope)) + ":" + scope + ":" + id
}

// digest is the content digest of an event as the client sent it, from
// its deterministic encoding (event.AppendStableEventField).
func digest(encoded []byte) dedupe.Sum {
	var s dedupe.Sum
	h := sha256.Sum256(encoded)
	copy(s[:], h[:])
	if s == (dedupe.Sum{}) {
		s[0] = 1 // the zero Sum means unknown
	}
	return s
}
