package client

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/gen/eventgrpc/v1/eventgrpcv1connect"
)

// transport is what newTransport builds: the HTTP client that sends (with
// the signer of hmac mode), the transport made for it when the caller gave
// none, and the function that sends one request.
type transport struct {
	hc   *http.Client
	own  *http.Transport
	send func(context.Context, *eventgrpcv1.Events) (*eventgrpcv1.Response, error)
}

// newTransport builds the function that sends one request.
func newTransport(cfg Config) (transport, error) {
	hc := cfg.HTTPClient
	var own *http.Transport
	base := http.DefaultTransport.(*http.Transport).Clone()
	var opts []connect.ClientOption
	grpc := false
	switch cfg.Protocol {
	case "", ProtocolConnect:
	case ProtocolGRPC:
		grpc = true
		opts = append(opts, connect.WithGRPC())
		p := new(http.Protocols)
		p.SetHTTP2(true)
		p.SetUnencryptedHTTP2(true)
		base.Protocols = p
	default:
		return transport{}, fmt.Errorf("event-grpc client: Protocol %q is not %q or %q", cfg.Protocol, ProtocolConnect, ProtocolGRPC)
	}
	if hc == nil {
		own = base
		hc = &http.Client{Transport: base}
	}
	if cfg.Compression == CompressionGzip {
		// Connect unary: Content-Encoding; gRPC: grpc-encoding. The
		// service accepts both; with hmac the signature covers the
		// compressed body, as sent.
		opts = append(opts, connect.WithSendGzip(), connect.WithCompressMinBytes(cfg.CompressMinBytes))
	}
	if len(cfg.HMACSecret) > 0 {
		if grpc {
			opts = append(opts, connect.WithInterceptors(grpcSigner(cfg.HMACSecret, cfg.Now)))
		} else {
			signed := *hc
			rt := signed.Transport
			if rt == nil {
				rt = http.DefaultTransport
			}
			signed.Transport = &bodySigner{base: rt, secret: cfg.HMACSecret, now: cfg.Now}
			hc = &signed
		}
	}
	cl := eventgrpcv1connect.NewEventServiceClient(hc, strings.TrimRight(cfg.URL, "/"), opts...)
	send := func(ctx context.Context, msg *eventgrpcv1.Events) (*eventgrpcv1.Response, error) {
		req := connect.NewRequest(msg)
		for k, vs := range cfg.RequestHeader {
			req.Header()[k] = append(req.Header()[k], vs...)
		}
		if cfg.ClientID != "" {
			req.Header().Set("X-Client-Id", cfg.ClientID)
		}
		if cfg.APIKey != "" {
			req.Header().Set("Authorization", "Bearer "+cfg.APIKey)
		}
		resp, err := cl.Dispatch(ctx, req)
		if err != nil {
			return nil, unavailableIfReset(ctx, err)
		}
		return resp.Msg, nil
	}
	return transport{hc: hc, own: own, send: send}, nil
}

// unavailableIfReset recodes as unavailable a canceled error of a call
// whose ctx is live: connect-go reports a connection the service reset or
// closed (ECONNRESET, EPIPE: the service died) as canceled, the code of a
// caller that gave up, where gRPC reports unavailable.
func unavailableIfReset(ctx context.Context, err error) error {
	var ce *connect.Error
	if ctx.Err() != nil || !errors.As(err, &ce) || ce.Code() != connect.CodeCanceled {
		return err
	}
	cause := ce.Unwrap()
	if cause == nil {
		cause = errors.New(ce.Message())
	}
	return connect.NewError(connect.CodeUnavailable, cause)
}

// sign is hex(HMAC-SHA256(secret, ts + "." + body)), the x-signature the
// service checks.
func sign(secret []byte, ts string, body []byte) string {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// bodySigner signs each HTTP request's body as sent (Connect, hmac mode).
// Each attempt is signed anew, so a retry is not refused as a replay.
type bodySigner struct {
	base   http.RoundTripper
	secret []byte
	now    func() time.Time
}

func (s *bodySigner) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	out := r.Clone(r.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	ts := strconv.FormatInt(s.now().UnixMilli(), 10)
	out.Header.Set("X-Timestamp", ts)
	out.Header.Set("X-Signature", sign(s.secret, ts, body))
	return s.base.RoundTrip(out)
}

var deterministic = proto.MarshalOptions{Deterministic: true}

// grpcSigner signs the deterministic encoding of the request message, which
// is what the gRPC port checks.
func grpcSigner(secret []byte, now func() time.Time) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			msg, ok := req.Any().(proto.Message)
			if !ok {
				return nil, fmt.Errorf("event-grpc client: %T is not a protobuf message", req.Any())
			}
			b, err := deterministic.Marshal(msg)
			if err != nil {
				return nil, err
			}
			ts := strconv.FormatInt(now().UnixMilli(), 10)
			req.Header().Set("X-Timestamp", ts)
			req.Header().Set("X-Signature", sign(secret, ts, b))
			return next(ctx, req)
		}
	}
}
