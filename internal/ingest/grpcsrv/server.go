package grpcsrv

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	// gzip-compressed messages (grpc-encoding: gzip): grpc-go inflates at
	// most MaxRecvBytes (resource_exhausted beyond), the bound the tap
	// admitted the call with.
	_ "google.golang.org/grpc/encoding/gzip"
	healthgrpc "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/types/known/durationpb"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/health"
	"github.com/event-grpc/event-grpc/internal/ingest"
	"github.com/event-grpc/event-grpc/internal/pipeline"
)

// Dispatcher is the pipeline as the server sees it.
type Dispatcher interface {
	Dispatch(ctx context.Context, src pipeline.Source, req *eventgrpcv1.Events) (*eventgrpcv1.Response, error)
}

// Config configures the server.
type Config struct {
	// TLS, when set, serves gRPC over TLS only with this configuration
	// (see internal/tlsconf).
	TLS          *tls.Config
	Addr         string
	MaxRecvBytes int
	Logger       *slog.Logger
	// Interceptors run before dispatch (authentication, rate limits).
	Interceptors []grpc.UnaryServerInterceptor
	// Tap, when set, checks a call's headers before its message is read
	// (auth.Authenticator.TapHandle); its error refuses the call.
	Tap tap.ServerInHandle
	// Budget, when set, holds MaxRecvBytes of the in-flight byte budget
	// for each dispatch call from its headers until its message is read
	// and decoded (then the message's size, until the call ends); a call
	// it cannot take is refused with RESOURCE_EXHAUSTED and a RetryInfo
	// hint before a byte of the message is read. See doc.go for why the
	// most a message may be, and not its length, is what is held.
	Budget ingest.Budget
	// MaxEvents refuses, by a pre-scan of the wire bytes before they are
	// decoded, a message of more events (MAX_EVENTS_PER_REQUEST); 0: no
	// pre-scan.
	MaxEvents int
	// ReadTimeout cancels a dispatch call whose message has not arrived in
	// full this long after its headers (INGEST_READ_TIMEOUT); 0: none.
	ReadTimeout time.Duration
	// MaxConns bounds the connections served at once
	// (INGEST_MAX_CONNECTIONS); beyond it new ones wait to be accepted.
	// 0: no bound.
	MaxConns int
	// MaxConcurrentStreams bounds the calls one connection may have open;
	// 0 means grpc-go's default.
	MaxConcurrentStreams uint32
	// Reflection serves the gRPC reflection service (GRPC_REFLECTION).
	Reflection bool
}

// Connection limits that are not configured: how long a connection may
// stay idle or live (clients reconnect, which also spreads them over the
// instances behind a balancer), how often a client may ping, and how
// long the handshake may take.
const (
	maxConnectionIdle     = 5 * time.Minute
	maxConnectionAge      = 30 * time.Minute
	maxConnectionAgeGrace = 30 * time.Second
	keepaliveTime         = 2 * time.Minute
	keepaliveTimeout      = 20 * time.Second
	minPingInterval       = 10 * time.Second
	handshakeTimeout      = 10 * time.Second
	// streamWindow is what a call may send before the server reads it,
	// fixed: grpc-go's default grows it with its bandwidth estimate (up to
	// 16 MiB per call), which a peer would decide. connWindow is the
	// connection's.
	streamWindow = 64 << 10
	connWindow   = 1 << 20
)

// Server is the gRPC server.
type Server struct {
	eventgrpcv1.UnimplementedEventServiceServer
	cfg    Config
	disp   Dispatcher
	state  *health.State
	health *healthgrpc.Server
	srv    *grpc.Server
	lis    net.Listener
	stop   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
}

// New builds the server; Start listens.
func New(cfg Config, disp Dispatcher, state *health.State) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, disp: disp, state: state, health: healthgrpc.NewServer(), stop: make(chan struct{})}
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(cfg.MaxRecvBytes),
		grpc.ChainUnaryInterceptor(cfg.Interceptors...),
		grpc.InTapHandle(s.tap),
		grpc.ForceServerCodecV2(newCodec()),
		grpc.InitialWindowSize(streamWindow),
		grpc.InitialConnWindowSize(connWindow),
		grpc.ConnectionTimeout(handshakeTimeout),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: minPingInterval, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: maxConnectionIdle, MaxConnectionAge: maxConnectionAge, MaxConnectionAgeGrace: maxConnectionAgeGrace,
			Time: keepaliveTime, Timeout: keepaliveTimeout,
		}),
	}
	if cfg.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg.TLS)))
	}
	if cfg.MaxConcurrentStreams > 0 {
		opts = append(opts, grpc.MaxConcurrentStreams(cfg.MaxConcurrentStreams))
	}
	s.srv = grpc.NewServer(opts...)
	// EventService with its dispatch method's handler replaced by one that
	// reads the message through the pre-scan and releases the call's
	// reservation (dispatch below); the wire contract is unchanged.
	desc := eventgrpcv1.EventService_ServiceDesc
	desc.Methods = slices.Clone(desc.Methods)
	for i := range desc.Methods {
		if "/"+desc.ServiceName+"/"+desc.Methods[i].MethodName == dispatchMethod {
			desc.Methods[i].Handler = s.dispatch
		}
	}
	s.srv.RegisterService(&desc, s)
	healthpb.RegisterHealthServer(s.srv, s.health)
	if cfg.Reflection {
		reflection.Register(s.srv)
	}
	return s
}

// dispatchMethod is the full name of EventService.dispatch.
const dispatchMethod = eventgrpcv1.EventService_Dispatch_FullMethodName

// Start listens and serves in the background.
func (s *Server) Start(ctx context.Context) error {
	lis, err := ingest.Listen("grpc", s.cfg.Addr, s.cfg.MaxConns)
	if err != nil {
		return err
	}
	s.lis = lis
	s.syncHealth()
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.cfg.Logger.Error("grpc server stopped", "err", err)
		}
	}()
	go s.watchHealth()
	s.cfg.Logger.Info("grpc listening", "addr", lis.Addr().String())
	return nil
}

// Addr is the bound address (useful with port 0).
func (s *Server) Addr() net.Addr { return s.lis.Addr() }

// watchHealth mirrors readiness into grpc.health.v1: at once when the
// heartbeat changes, and within a poll interval when a probe does.
func (s *Server) watchHealth() {
	defer s.wg.Done()
	changed := s.state.Changed()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-changed:
		case <-tick.C:
		}
		s.syncHealth()
	}
}

func (s *Server) syncHealth() {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if ok, _ := s.state.Ready(); ok {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", st)
	s.health.SetServingStatus(eventgrpcv1.EventService_ServiceDesc.ServiceName, st)
}

// Dispatch implements EventService.dispatch.
func (s *Server) Dispatch(ctx context.Context, req *eventgrpcv1.Events) (*eventgrpcv1.Response, error) {
	resp, err := s.disp.Dispatch(ctx, pipeline.SourceGRPC, req)
	if err != nil {
		return nil, Status(ctx, err)
	}
	return resp, nil
}

// Status maps an error to the gRPC status the client gets, with the retry
// hint, when there is one, twice: a retry-after-ms trailer and a
// google.rpc.RetryInfo detail (the standard form gRPC clients read).
func Status(ctx context.Context, err error) error {
	st := ingest.StatusOf(err)
	if st.RetryAfter > 0 {
		_ = grpc.SetTrailer(ctx, metadata.Pairs("retry-after-ms", strconv.FormatInt(st.RetryAfter.Milliseconds(), 10)))
	}
	if st.GRPC == codes.OK {
		st.GRPC = codes.Unknown
	}
	return withRetryInfo(status.New(st.GRPC, err.Error()), st.RetryAfter).Err()
}

// withRetryInfo adds a google.rpc.RetryInfo detail of d to s; s as it is
// when d is zero.
func withRetryInfo(s *status.Status, d time.Duration) *status.Status {
	if d <= 0 {
		return s
	}
	if sd, err := s.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)}); err == nil {
		return sd
	}
	return s
}

// Shutdown stops accepting calls and waits for the running ones, within
// ctx; then it stops hard. Safe to call twice and before Start.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		close(s.stop)
		s.health.Shutdown()
		done := make(chan struct{})
		go func() { s.srv.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			s.srv.Stop()
			err = fmt.Errorf("grpc drain: %w", ctx.Err())
		}
		s.wg.Wait()
	})
	return err
}
