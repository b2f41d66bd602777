package httpsrv

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/protobuf/encoding/protojson"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/event"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/health"
	"github.com/event-grpc/event-grpc/internal/ingest"
	"github.com/event-grpc/event-grpc/internal/ingest/grpcsrv"
	"github.com/event-grpc/event-grpc/internal/pipeline"
	"github.com/event-grpc/event-grpc/internal/query"
)

// Config configures the server.
type Config struct {
	// TLS, when set, serves HTTPS only (HTTP/1.1 and HTTP/2 over TLS; no
	// plaintext, no h2c) with this configuration (see internal/tlsconf).
	TLS          *tls.Config
	Addr         string
	MaxBodyBytes int64
	QueryRemote  bool // allow the operator endpoints from non-loopback clients, with AdminToken
	// AdminToken is the Bearer token the operator endpoints require from
	// anything but a loopback client (ADMIN_TOKEN); see Operator.
	AdminToken string
	// AdminHosts are Host names, besides loopback ones, that a loopback
	// client may use for the operator endpoints (ADMIN_HOSTS).
	AdminHosts   []string
	QueryMaxRows int
	Logger       *slog.Logger
	Gatherer     prometheus.Gatherer
	// Registerer takes the login's metrics (MountLogin); nil: none.
	Registerer prometheus.Registerer
	// Querier answers the query endpoint; nil disables it.
	Querier query.Querier
	// Middleware wraps the ingest routes (authentication, rate limits).
	Middleware func(http.Handler) http.Handler
	// Budget, when set, holds each ingest and webhook request's body
	// bytes (its Content-Length, or MaxBodyBytes when it declares none)
	// before the body is read; a request it cannot take is refused with
	// 429 and Retry-After, unread (ingest.ReserveBody).
	Budget ingest.Budget
	// Precheck wraps the ingest routes outside Budget: the credentials
	// that travel in headers are checked before anything is reserved or
	// read (auth.Authenticator.Precheck); nil: none.
	Precheck func(http.Handler) http.Handler
	// ReadTimeout bounds the time to send an ingest or webhook body in
	// full (INGEST_READ_TIMEOUT); 0: the server's 60 s.
	ReadTimeout time.Duration
	// MaxConns bounds the connections served at once
	// (INGEST_MAX_CONNECTIONS); beyond it new ones wait to be accepted.
	// 0: no bound.
	MaxConns int
	// MaxConcurrentStreams bounds the requests one HTTP/2 connection may
	// have open (INGEST_MAX_STREAMS); 0: net/http's 250.
	MaxConcurrentStreams int
	// MaxEvents refuses a /v1/events body of more events, counted by a
	// pre-scan of the JSON before it is decoded (MAX_EVENTS_PER_REQUEST);
	// 0: no pre-scan.
	MaxEvents int
	// Outer wraps every route (panic reporting); nil: none.
	Outer func(http.Handler) http.Handler
	// AdminAddr, when set, is a second listener (loopback, ADMIN_ADDR)
	// that alone serves the operator routes; the public port answers 404
	// for them. See Operator.
	AdminAddr string
	// MetricsAddr, when set, is the listener that alone serves /metrics
	// (METRICS_ADDR; it may equal AdminAddr).
	MetricsAddr string
	// RequireToken: the operator routes on the public listener need the
	// admin token even from loopback (any ENV but local). See Operator.
	RequireToken bool
	// TailWriteTimeout bounds each write to a live-tail reader: one that
	// has not taken a message within it is dropped (default 10s).
	TailWriteTimeout time.Duration
}

// Server is the HTTP server.
type Server struct {
	cfg   Config
	disp  grpcsrv.Dispatcher
	state *health.State
	mux   *http.ServeMux
	admin *http.ServeMux // the operator routes' mux: mux itself unless AdminAddr
	srv   *http.Server
	lis   net.Listener
	side  []*side // the operator and metrics listeners, when configured
	wg    sync.WaitGroup
	once  sync.Once
	sess  *sessions // nil until MountLogin
}

// New builds the server and its routes; Start listens.
func New(cfg Config, disp grpcsrv.Dispatcher, state *health.State) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Middleware == nil {
		cfg.Middleware = func(h http.Handler) http.Handler { return h }
	}
	if cfg.Precheck == nil {
		cfg.Precheck = func(h http.Handler) http.Handler { return h }
	}
	s := &Server{cfg: cfg, disp: disp, state: state, mux: http.NewServeMux()}
	s.sideListeners()
	s.mux.HandleFunc("GET /heartbeat", s.getHeartbeat)
	s.HandleOperator("PUT /heartbeat", http.HandlerFunc(s.putHeartbeat))
	if cfg.Gatherer != nil {
		s.metricsMux().Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	}
	s.Ingest("POST /v1/events", http.HandlerFunc(s.postEvents))
	if cfg.Querier != nil {
		s.HandleOperator("POST /v1/query", http.HandlerFunc(s.postQuery))
	}
	// Profiles, for finding where the time goes; operators only.
	s.HandleOperator("/debug/pprof/", http.HandlerFunc(pprof.Index))
	s.HandleOperator("/debug/pprof/profile", http.HandlerFunc(pprof.Profile))
	s.HandleOperator("/debug/pprof/trace", http.HandlerFunc(pprof.Trace))
	var root http.Handler = s.mux
	if cfg.Outer != nil {
		root = cfg.Outer(s.mux)
	}
	s.srv = httpServer(root)
	// The server's own complaints (a failed TLS handshake, a peer that
	// hung up) are a peer's doing: debug level, never a line per attempt
	// at the default level.
	s.srv.ErrorLog = slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug)
	// HTTP/2 without TLS (prior knowledge) besides HTTP/1.1, so gRPC
	// clients can reach the Connect handler on this port too.
	s.srv.Protocols = new(http.Protocols)
	s.srv.Protocols.SetHTTP1(true)
	if cfg.TLS != nil {
		s.srv.TLSConfig = cfg.TLS
		s.srv.Protocols.SetHTTP2(true)
	} else {
		s.srv.Protocols.SetUnencryptedHTTP2(true)
	}
	// What one HTTP/2 connection may make the server hold: a few streams,
	// small frames, and a receive window that a handler which has not
	// started reading (its body not yet admitted) does not refill.
	s.srv.HTTP2 = &http.HTTP2Config{
		MaxConcurrentStreams:          cfg.MaxConcurrentStreams,
		MaxReadFrameSize:              16 << 10,
		MaxReceiveBufferPerConnection: 1 << 20,
		MaxReceiveBufferPerStream:     256 << 10,
	}
	return s
}

// reserve holds a body's bytes in the budget before it is read (see
// Config.Budget); without a budget it returns h.
func (s *Server) reserve(h http.Handler) http.Handler {
	if s.cfg.Budget == nil {
		return h
	}
	return ingest.ReserveBody(s.cfg.Budget, s.cfg.MaxBodyBytes, s.cfg.ReadTimeout, func(w http.ResponseWriter, r *http.Request, err error) {
		if errors.Is(err, ingest.ErrBodyTooLarge) {
			Error(w, http.StatusRequestEntityTooLarge, err)
			return
		}
		Fail(w, err)
	})(h)
}

// Ingest mounts an ingest route: wrapped in the ingest middleware, with the
// body bounded by MaxBodyBytes.
func (s *Server) Ingest(pattern string, h http.Handler) {
	s.mux.Handle(pattern, s.cfg.Precheck(s.reserve(s.cfg.Middleware(http.MaxBytesHandler(h, s.cfg.MaxBodyBytes)))))
}

// Webhook mounts a third-party webhook route: its body is bounded like the
// ingest routes, but sender authentication is the provider's signature,
// which the route checks itself, not the client credentials of Middleware.
func (s *Server) Webhook(pattern string, h http.Handler) {
	s.mux.Handle(pattern, s.reserve(http.MaxBytesHandler(h, s.cfg.MaxBodyBytes)))
}

// Handle mounts any other route.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// httpServer serves h with the header, read and idle timeouts and the
// header size bound of every listener of this package.
func httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// Start listens and serves in the background.
func (s *Server) Start(ctx context.Context) error {
	lis, err := ingest.Listen("http", s.cfg.Addr, s.cfg.MaxConns)
	if err != nil {
		return err
	}
	s.lis = lis
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		serve := func() error { return s.srv.Serve(lis) }
		if s.cfg.TLS != nil {
			// The certificate comes from TLSConfig (reloaded when its
			// files change), not from files named here.
			serve = func() error { return s.srv.ServeTLS(lis, "", "") }
		}
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Logger.Error("http server stopped", "err", err)
		}
	}()
	s.cfg.Logger.Info("http listening", "addr", lis.Addr().String())
	return s.startSide()
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.lis.Addr() }

// Shutdown stops accepting and waits for running requests within ctx.
// Safe to call twice and before Start.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		err = s.srv.Shutdown(ctx)
		if err != nil {
			s.srv.Close()
		}
		err = errors.Join(err, s.shutdownSide(ctx))
		s.wg.Wait()
	})
	return err
}

func (s *Server) getHeartbeat(w http.ResponseWriter, r *http.Request) {
	ok, why := s.state.Ready()
	if !ok {
		http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "OK\n")
}

func (s *Server) putHeartbeat(w http.ResponseWriter, r *http.Request) {
	on, err := strconv.ParseBool(r.URL.Query().Get("beat"))
	if err != nil {
		http.Error(w, "beat must be true or false", http.StatusBadRequest)
		return
	}
	s.state.SetBeat(on)
	s.cfg.Logger.Info("heartbeat set", "beat", on, "remote", r.RemoteAddr)
	fmt.Fprintf(w, "beat=%v\n", on)
}

var (
	unmarshal = protojson.UnmarshalOptions{}
	marshal   = protojson.MarshalOptions{EmitUnpopulated: true}
)

// RequireJSON answers 415 unless the request says it is JSON
// (application/json). The content types a browser may send cross-site
// without a CORS preflight (text/plain, application/x-www-form-urlencoded,
// multipart/form-data) never reach an ingest or webhook route, so a page on
// another site cannot post events through its visitors' browsers.
func RequireJSON(w http.ResponseWriter, r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		Error(w, http.StatusUnsupportedMediaType, fmt.Errorf("content type %q is not application/json", r.Header.Get("Content-Type")))
		return false
	}
	return true
}

// ReadBody reads a bounded body, answering 413 when it is over the limit.
func ReadBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			Error(w, http.StatusRequestEntityTooLarge, fmt.Errorf("body is over the %d byte limit (HTTP_MAX_BODY_BYTES)", mbe.Limit))
			return nil, false
		}
		Error(w, http.StatusBadRequest, fmt.Errorf("read body: %w", err))
		return nil, false
	}
	return body, true
}

func (s *Server) postEvents(w http.ResponseWriter, r *http.Request) {
	if !RequireJSON(w, r) {
		return
	}
	body, ok := ReadBody(w, r)
	if !ok {
		return
	}
	if s.cfg.MaxEvents > 0 {
		// An empty event is 3 bytes of JSON and about a hundred decoded.
		if _, err := event.CountJSONEvents(body, s.cfg.MaxEvents); err != nil {
			if s.cfg.Budget != nil {
				s.cfg.Budget.Refused(ingest.RefusedTooManyEvents)
			}
			Fail(w, err)
			return
		}
	}
	req, err := DecodeEvents(body)
	if err != nil {
		Error(w, http.StatusBadRequest, err)
		return
	}
	resp, err := s.disp.Dispatch(pipeline.WithRequestKey(r.Context(), pipeline.RequestKeyOf(r.Header)), pipeline.SourceHTTP, req)
	if err != nil {
		Fail(w, err)
		return
	}
	b, err := marshal.Marshal(resp)
	if err != nil {
		Fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if code := EventsStatus(resp); code != http.StatusOK {
		if code == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(code)
	}
	w.Write(b)
}

// EventsStatus is the HTTP status of a dispatch answer: 200 when at least
// one event was accepted (the body's results say which were not); when none
// was, 422 if every rejection is the event's own fault (invalid, too
// large), or 503 with Retry-After if one may succeed when retried (another
// request is publishing the same id). The body carries the per-event
// results either way.
func EventsStatus(resp *eventgrpcv1.Response) int {
	if resp.GetAccepted() > 0 || len(resp.GetResults()) == 0 {
		return http.StatusOK
	}
	for _, r := range resp.GetResults() {
		if r.GetRetryable() {
			return http.StatusServiceUnavailable
		}
	}
	return http.StatusUnprocessableEntity
}

// DecodeEvents reads the protojson form of Events. Unknown fields are an
// error that names them, so a misspelt field is not silently dropped.
func DecodeEvents(body []byte) (*eventgrpcv1.Events, error) {
	req := &eventgrpcv1.Events{}
	if err := unmarshal.Unmarshal(body, req); err != nil {
		return nil, fmt.Errorf("body is not an Events message in JSON form: %w", err)
	}
	return req, nil
}

// Fail answers with the status StatusOf gives err.
func Fail(w http.ResponseWriter, err error) {
	st := ingest.StatusOf(err)
	if st.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(st.RetryAfter.Round(time.Second)/time.Second))))
	}
	Error(w, st.HTTP, err)
}

// Error answers {"error": "..."} with code.
func Error(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

// QueryResult is the answer of the query endpoint.
type QueryResult struct {
	Columns []string   `json:"columns"`
	Rows    [][]string `json:"rows"`
}

func (s *Server) postQuery(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		Error(w, http.StatusRequestEntityTooLarge, err)
		return
	}
	cols, rows, err := s.cfg.Querier.Query(r.Context(), string(body), s.cfg.QueryMaxRows)
	if err != nil {
		code := http.StatusInternalServerError
		if fault.IsPermanent(err) {
			code = http.StatusBadRequest
		}
		Error(w, code, err)
		return
	}
	if rows == nil {
		rows = [][]string{}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(QueryResult{Columns: cols, Rows: rows})
}

func loopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
