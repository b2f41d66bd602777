package connectsrv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/gen/eventgrpc/v1/eventgrpcv1connect"
	"github.com/event-grpc/event-grpc/internal/auth"
	"github.com/event-grpc/event-grpc/internal/ingest"
	"github.com/event-grpc/event-grpc/internal/pipeline"
	"github.com/event-grpc/event-grpc/internal/ratelimit"
)

// Source is the pipeline source of every request served here, whatever the
// protocol (Connect, gRPC-Web, gRPC).
const Source pipeline.Source = "connect"

// Metadata keys of the retry hint (see the package comment).
const (
	HeaderRetryAfterMs = "Retry-After-Ms"
	HeaderRetryAfter   = "Retry-After"
)

// Dispatcher is the pipeline as the handler sees it.
type Dispatcher interface {
	Dispatch(ctx context.Context, src pipeline.Source, req *eventgrpcv1.Events) (*eventgrpcv1.Response, error)
}

// Config configures the handler.
type Config struct {
	// MaxBodyBytes bounds a request body as sent and each message once
	// decompressed (HTTP_MAX_BODY_BYTES).
	MaxBodyBytes int64
	// AllowedOrigins enables CORS for these origins (CORS_ALLOWED_ORIGINS);
	// empty: no CORS headers, browsers may call from the same origin only.
	AllowedOrigins []string
	// Authenticate is the HTTP authentication middleware
	// (auth.Authenticator.Middleware). It sees the raw HTTP request, so in
	// hmac mode the signature covers the HTTP body as sent. Its refusals (a
	// status and {"error": "..."}) are rewritten as RPC errors of the
	// caller's protocol. nil: no authentication.
	Authenticate func(http.Handler) http.Handler
	// Limiter rate-limits requests after authentication; nil or disabled:
	// no limit.
	Limiter *ratelimit.Limiter
	// Precheck, when set, checks the credentials that travel in headers
	// before anything is reserved or read (auth.Authenticator.Precheck);
	// its refusals are rewritten like Authenticate's.
	Precheck func(http.Handler) http.Handler
	// Budget, when set, holds a request's body bytes (its Content-Length,
	// or MaxBodyBytes when it declares none) before the body is read
	// (ingest.ReserveBody); a refusal is the caller's protocol's
	// resource_exhausted with the retry hint, and nothing is read.
	Budget ingest.Budget
	// MaxEvents refuses a message of more events by a pre-scan of its
	// wire bytes or JSON, before it is decoded (MAX_EVENTS_PER_REQUEST);
	// 0: no pre-scan.
	MaxEvents int
	// ReadTimeout bounds the time to send the body in full
	// (INGEST_READ_TIMEOUT); 0: none.
	ReadTimeout time.Duration
	Logger      *slog.Logger
}

// New builds the EventService handler. Mount h at path (a prefix ending in
// "/"); h answers CORS preflights itself.
func New(cfg Config, disp Dispatcher) (path string, h http.Handler) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 4 << 20
	}
	s := &service{disp: disp}
	opts := append(jsonCodecs(cfg.MaxEvents, cfg.Budget), connect.WithReadMaxBytes(int(min(cfg.MaxBodyBytes, math.MaxInt32))),
		connect.WithCodec(protoCodec{max: cfg.MaxEvents, budget: cfg.Budget}))
	path, h = eventgrpcv1connect.NewEventServiceHandler(s, opts...)
	ew := connect.NewErrorWriter()
	if cfg.Limiter != nil && cfg.Limiter.Enabled() {
		h = limit(cfg.Limiter, ew, h)
	}
	if cfg.Authenticate != nil {
		h = rewriteRefusals(cfg.Authenticate, ew, h)
	}
	if cfg.Budget != nil {
		h = ingest.ReserveBody(cfg.Budget, cfg.MaxBodyBytes, cfg.ReadTimeout, func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, ingest.ErrBodyTooLarge) {
				writeError(ew, w, r, connect.NewError(connect.CodeResourceExhausted, err))
				return
			}
			writeError(ew, w, r, Error(err))
		})(h)
	}
	if cfg.Precheck != nil {
		h = rewriteRefusals(cfg.Precheck, ew, h)
	}
	h = bound(cfg.MaxBodyBytes, ew, h)
	if len(cfg.AllowedOrigins) > 0 {
		h = withCORS(cfg.AllowedOrigins, h)
	}
	return path, h
}

type service struct {
	eventgrpcv1connect.UnimplementedEventServiceHandler
	disp Dispatcher
}

// Dispatch implements EventService.dispatch.
func (s *service) Dispatch(ctx context.Context, req *connect.Request[eventgrpcv1.Events]) (*connect.Response[eventgrpcv1.Response], error) {
	resp, err := s.disp.Dispatch(pipeline.WithRequestKey(ctx, pipeline.RequestKeyOf(req.Header())), Source, req.Msg)
	if err != nil {
		return nil, Error(err)
	}
	return connect.NewResponse(resp), nil
}

// Error maps err to the Connect error a client gets: the code
// ingest.StatusOf gives the gRPC port, and its retry hint in the metadata.
func Error(err error) *connect.Error {
	st := ingest.StatusOf(err)
	code := connect.Code(st.GRPC) // the numbering is gRPC's
	if st.GRPC == codes.OK {
		code = connect.CodeUnknown
	}
	ce := connect.NewError(code, err)
	if st.RetryAfter > 0 {
		SetRetryHint(ce.Meta(), st.RetryAfter)
	}
	return ce
}

// SetRetryHint writes the retry hint d into h: Retry-After-Ms in
// milliseconds and Retry-After in whole seconds, both rounded up (at least
// 1).
func SetRetryHint(h http.Header, d time.Duration) {
	ms := max(1, int64(math.Ceil(float64(d)/float64(time.Millisecond))))
	h.Set(HeaderRetryAfterMs, strconv.FormatInt(ms, 10))
	h.Set(HeaderRetryAfter, strconv.FormatInt(max(1, (ms+999)/1000), 10))
}

// RetryHint reads the hint SetRetryHint wrote (Retry-After-Ms, else
// Retry-After in seconds); 0 when there is none.
func RetryHint(h http.Header) time.Duration {
	if v := h.Get(HeaderRetryAfterMs); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			return time.Duration(n) * time.Millisecond
		}
	}
	if v := h.Get(HeaderRetryAfter); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			return time.Duration(n) * time.Second
		}
	}
	return 0
}

// writeError answers an RPC error in the caller's protocol. The error's
// metadata goes into the response headers for every protocol (connect's
// ErrorWriter writes it for Connect unary only); for gRPC-Web and gRPC
// the answer is trailers-only, so headers are where clients read it.
func writeError(ew *connect.ErrorWriter, w http.ResponseWriter, r *http.Request, ce *connect.Error) {
	for k, vs := range ce.Meta() {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	plain := connect.NewError(ce.Code(), errors.New(ce.Message()))
	_ = ew.Write(w, r, plain)
}

// bound refuses bodies over max: at once when Content-Length says so, and
// while reading otherwise (connect answers resource_exhausted).
func bound(max int64, ew *connect.ErrorWriter, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			writeError(ew, w, r, connect.NewError(connect.CodeResourceExhausted,
				fmt.Errorf("body of %d bytes is over the %d byte limit (HTTP_MAX_BODY_BYTES); send fewer events per request", r.ContentLength, max)))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		next.ServeHTTP(w, r)
	})
}

// limit spends a token of the sender's bucket, keyed as the HTTP and gRPC
// limiters key it; a refusal is resource_exhausted with the retry hint.
func limit(l *ratelimit.Limiter, ew *connect.ErrorWriter, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		ip := r.RemoteAddr
		if h, _, err := net.SplitHostPort(ip); err == nil {
			ip = h
		}
		d := l.Take(ratelimit.Key{AuthID: auth.ClientID(r.Context()), HeaderID: r.Header.Get(auth.HeaderClientID), IP: ip})
		if !d.OK {
			ce := connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("rate limit exceeded; retry in %v (RATE_LIMIT)", d.RetryAfter.Round(time.Millisecond)))
			SetRetryHint(ce.Meta(), d.RetryAfter)
			writeError(ew, w, r, ce)
			return
		}
		next.ServeHTTP(w, r)
	})
}
