package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
)

// Sender sends one request to EventService.dispatch and returns the
// service's answer: the synchronous request path of the SDK, which a
// Client's batching uses for every attempt, for callers that build their
// own requests (a load generator, a relay). It does no batching, no
// retrying and no id minting, and keeps no state besides its connections.
// Safe for concurrent use; requests share its connections (with
// ProtocolGRPC one HTTP/2 connection, another only when the service's
// limit of concurrent streams is reached; with ProtocolConnect a pool of
// HTTP/1.1 or HTTP/2 connections). Each Sender has connections of its own,
// unless Config.HTTPClient is shared.
type Sender struct {
	cfg  Config
	hc   *http.Client // sends the requests, with the signer of hmac mode when set
	own  *http.Transport
	send func(context.Context, *eventgrpcv1.Events) (*eventgrpcv1.Response, error)
}

// NewSender builds a Sender from the fields of cfg about the transport:
// URL (required), Protocol, HTTPClient, RequestHeader, ClientID with
// APIKey or HMACSecret, Compression, CompressMinBytes and Now, with the
// defaults of New. The other fields are ignored. It opens no connection:
// the first Send (or Ping) does.
func NewSender(cfg Config) (*Sender, error) {
	cfg, err := senderConfig(cfg)
	if err != nil {
		return nil, err
	}
	t, err := newTransport(cfg)
	if err != nil {
		return nil, err
	}
	return &Sender{cfg: cfg, hc: t.hc, own: t.own, send: t.send}, nil
}

// senderConfig checks the transport fields of cfg and sets their defaults.
func senderConfig(cfg Config) (Config, error) {
	if cfg.URL == "" {
		return cfg, errors.New("event-grpc client: URL is required")
	}
	if cfg.APIKey != "" && len(cfg.HMACSecret) > 0 {
		return cfg, errors.New("event-grpc client: set APIKey or HMACSecret, not both")
	}
	if (cfg.APIKey != "" || len(cfg.HMACSecret) > 0) && cfg.ClientID == "" {
		return cfg, errors.New("event-grpc client: ClientID is required with APIKey or HMACSecret")
	}
	switch cfg.Compression {
	case "":
		cfg.Compression = CompressionGzip
		if cfg.Protocol == ProtocolGRPC {
			cfg.Compression = CompressionNone
		}
	case CompressionGzip, CompressionNone:
	default:
		return cfg, fmt.Errorf("event-grpc client: Compression %q is not %q or %q", cfg.Compression, CompressionGzip, CompressionNone)
	}
	if cfg.CompressMinBytes <= 0 {
		cfg.CompressMinBytes = 1024
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg, nil
}

// Send sends req in one request and returns the service's Response, or the
// error of the request as a whole (a *connect.Error: connect.CodeOf names
// its code: unavailable when the service could not be reached or dropped
// the connection, canceled only when ctx was). It makes one attempt,
// bounded by ctx only (Config.RequestTimeout is the Client's, not the
// Sender's), and sends the events as they are: ids and timestamps left
// empty are minted by the service. Header.clientId is not set for the
// caller; ClientID authenticates the request.
func (s *Sender) Send(ctx context.Context, req *eventgrpcv1.Events) (*eventgrpcv1.Response, error) {
	return s.send(ctx, req)
}

// pingPath is the gRPC health check, which the gRPC port answers; any
// answer, whatever its status, tells that the service is reachable.
const pingPath = "/grpc.health.v1.Health/Check"

// Ping opens a connection to the service when none is open and returns nil
// once the service answered a request on it, or the error of the request
// (the connection refused, ctx's deadline passed: no HTTP answer came).
// It checks that the service is reachable, not that it is ready: any HTTP
// answer will do. Send opens connections as it needs them; Ping is for a
// caller that wants to know the service is there before it sends, or to
// keep the connection set-up out of the first Send.
func (s *Sender) Ping(ctx context.Context) error {
	var (
		body []byte
		ct   = "application/proto"
	)
	if s.cfg.Protocol == ProtocolGRPC {
		body, ct = make([]byte, 5), "application/grpc" // one empty, uncompressed message
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(s.cfg.URL, "/")+pingPath, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("event-grpc client: ping: %w", err)
	}
	req.Header.Set("Content-Type", ct)
	if s.cfg.Protocol == ProtocolGRPC {
		req.Header.Set("Te", "trailers")
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return fmt.Errorf("event-grpc client: ping: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // drained, so the connection is kept
	return resp.Body.Close()
}

// Close closes the idle connections of the Sender's own transport (none
// when Config.HTTPClient was given: that client is the caller's). Requests
// in flight are not interrupted; a later Send opens a new connection.
func (s *Sender) Close() {
	if s.own != nil {
		s.own.CloseIdleConnections()
	}
}
