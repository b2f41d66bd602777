package segment

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/auth"
	"github.com/event-grpc/event-grpc/internal/ingest"
	"github.com/event-grpc/event-grpc/internal/pipeline"
)

// Dispatcher is the pipeline (the same one every source uses).
type Dispatcher interface {
	Dispatch(ctx context.Context, src pipeline.Source, req *eventgrpcv1.Events) (*eventgrpcv1.Response, error)
}

// Config configures the handler.
type Config struct {
	// Admit is asked before a body is read (the pipeline's byte budget);
	// its error is answered with its status (429 and Retry-After). Nil:
	// no check.
	Admit func() error
	// WriteKey maps a write key to the client id it authenticates (see
	// auth.Authenticator.WriteKey); its error is a 401. Nil accepts any
	// key as no client.
	WriteKey func(key string) (string, error)
	// Limit wraps the dispatch in the rate limiter, which reads the client
	// id from the request's context (ratelimit.Limiter.Middleware). Nil:
	// no limit.
	Limit func(http.Handler) http.Handler
	// MaxEvents is the pipeline's MAX_EVENTS_PER_REQUEST: a larger batch
	// is dispatched in parts of this many. 0: 500.
	MaxEvents int
	// MaxBatchBytes bounds a body, compressed and decompressed; 0:
	// MaxBatchBytes (500 KB).
	MaxBatchBytes int64
	Logger        *slog.Logger
	// Now is the clock (receivedAt); time.Now when nil.
	Now func() time.Time
}

// Handler serves the Segment tracking API.
type Handler struct {
	cfg  Config
	disp Dispatcher
}

// New builds the handler; Routes gives its routes.
func New(cfg Config, disp Dispatcher) *Handler {
	if cfg.MaxEvents <= 0 {
		cfg.MaxEvents = 500
	}
	if cfg.MaxBatchBytes <= 0 {
		cfg.MaxBatchBytes = MaxBatchBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.WriteKey == nil {
		cfg.WriteKey = func(string) (string, error) { return "", nil }
	}
	if cfg.Limit == nil {
		cfg.Limit = func(h http.Handler) http.Handler { return h }
	}
	return &Handler{cfg: cfg, disp: disp}
}

// paths are the routes and the call each takes ("" for a batch): the
// spec's names and analytics.js's short ones.
var paths = map[string]string{
	"/v1/track": CallTrack, "/v1/t": CallTrack,
	"/v1/identify": CallIdentify, "/v1/i": CallIdentify,
	"/v1/page": CallPage, "/v1/p": CallPage,
	"/v1/screen": CallScreen, "/v1/s": CallScreen,
	"/v1/group": CallGroup, "/v1/g": CallGroup,
	"/v1/alias": CallAlias, "/v1/a": CallAlias,
	"/v1/batch": "", "/v1/b": "", "/v1/import": "",
}

// Routes returns the handler of every path (POST, and OPTIONS for a
// browser's preflight), for mounting on the HTTP server's mux as they are:
// the handler authenticates, limits and bounds its own requests.
func (h *Handler) Routes() map[string]http.Handler {
	out := make(map[string]http.Handler, len(paths))
	for p, call := range paths {
		out[p] = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.serve(w, r, call) })
	}
	return out
}

// answer is the body of every reply: Segment's {"success": true}, and
// what went wrong when something did.
type answer struct {
	Success  bool           `json:"success"`
	Error    string         `json:"error,omitempty"`
	Accepted int            `json:"accepted"`
	Rejected []MessageError `json:"rejected,omitempty"`
}

func reply(w http.ResponseWriter, code int, a answer) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(a)
}

func refuse(w http.ResponseWriter, code int, err error) {
	reply(w, code, answer{Error: err.Error()})
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, call string) {
	// Browsers post from any site (the write key is what admits them), as
	// Segment's API allows.
	w.Header().Set("Access-Control-Allow-Origin", "*")
	if r.Method == http.MethodOptions {
		w.Header().Set("Access-Control-Allow-Methods", "POST")
		w.Header().Set("Access-Control-Allow-Headers", "Content-Type, Authorization, Content-Encoding")
		w.Header().Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		refuse(w, http.StatusMethodNotAllowed, fmt.Errorf("%s is not allowed; POST the message", r.Method))
		return
	}
	receivedAt := h.cfg.Now()
	if h.cfg.Admit != nil {
		if err := h.cfg.Admit(); err != nil {
			h.fail(w, err)
			return
		}
	}
	if r.ContentLength > h.cfg.MaxBatchBytes {
		refuse(w, http.StatusRequestEntityTooLarge, fmt.Errorf("the body is %d bytes; the limit is %d (500 KB)", r.ContentLength, h.cfg.MaxBatchBytes))
		return
	}
	enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	if enc != "" && enc != "identity" && enc != "gzip" {
		refuse(w, http.StatusUnsupportedMediaType, fmt.Errorf("Content-Encoding %q is not supported; send gzip or none", truncate(enc, 40)))
		return
	}
	// A key in the header is checked before the body is read.
	key, inHeader, err := headerKey(r)
	if err != nil {
		h.unauthorized(w, err)
		return
	}
	id := ""
	if inHeader {
		if id, err = h.cfg.WriteKey(key); err != nil {
			h.unauthorized(w, err)
			return
		}
	}
	body, code, err := h.read(w, r, enc == "gzip")
	if err != nil {
		refuse(w, code, err)
		return
	}
	p, err := Parse(body, call, receivedAt)
	if err != nil {
		refuse(w, http.StatusBadRequest, err)
		return
	}
	if !inHeader {
		if id, err = h.cfg.WriteKey(p.WriteKey); err != nil {
			h.unauthorized(w, err)
			return
		}
	}
	ctx := r.Context()
	if id != "" {
		ctx = auth.WithClientID(ctx, id)
	}
	h.cfg.Limit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.dispatch(w, r.Context(), p)
	})).ServeHTTP(w, r.WithContext(ctx))
}

// headerKey reads the write key of an Authorization header: Basic with the
// key as user (any password). inHeader is false when there is none.
func headerKey(r *http.Request) (key string, inHeader bool, err error) {
	if r.Header.Get("Authorization") == "" {
		return "", false, nil
	}
	user, _, ok := r.BasicAuth()
	if !ok {
		return "", true, errors.New("authorization must be Basic base64(writeKey:)")
	}
	return user, true, nil
}

func (h *Handler) unauthorized(w http.ResponseWriter, err error) {
	w.Header().Set("WWW-Authenticate", `Basic realm="event-grpc segment"`)
	refuse(w, http.StatusUnauthorized, err)
}

// read reads the body, bounded in compressed and decompressed bytes.
func (h *Handler) read(w http.ResponseWriter, r *http.Request, gz bool) ([]byte, int, error) {
	limit := h.cfg.MaxBatchBytes
	var rd io.Reader = http.MaxBytesReader(w, r.Body, limit)
	if gz {
		zr, err := gzip.NewReader(rd)
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("the body is not gzip: %w", err)
		}
		defer zr.Close()
		rd = io.LimitReader(zr, limit+1)
	}
	body, err := io.ReadAll(rd)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("the body is over the %d byte limit (500 KB)", limit)
		}
		return nil, http.StatusBadRequest, fmt.Errorf("read the body: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("the body decompresses to more than the %d byte limit (500 KB)", limit)
	}
	return body, 0, nil
}

// dispatch hands the valid messages to the pipeline, in parts of
// MaxEvents, and answers: 200 when nothing needs sending again (with the
// rejected messages listed), 400 when no message was valid, 503 (retry)
// when one may succeed when sent again — the messages already taken are
// deduplicated by their messageId.
func (h *Handler) dispatch(w http.ResponseWriter, ctx context.Context, p *Parsed) {
	a := answer{Rejected: p.Errors}
	retry := false
	for start := 0; start < len(p.Events); start += h.cfg.MaxEvents {
		end := min(start+h.cfg.MaxEvents, len(p.Events))
		resp, err := h.disp.Dispatch(ctx, pipeline.SourceSegment, &eventgrpcv1.Events{Header: &eventgrpcv1.Header{}, Events: p.Events[start:end]})
		if err != nil {
			if a.Accepted == 0 {
				h.fail(w, err)
				return
			}
			// Part was taken: the rest must be sent again.
			for i := start; i < end; i++ {
				a.Rejected = append(a.Rejected, MessageError{Index: p.Index[i], MessageID: p.Events[i].GetId(), Error: err.Error()})
			}
			retry = true
			break
		}
		for _, res := range resp.GetResults() {
			i := start + int(res.GetIndex())
			if i < start || i >= end {
				continue
			}
			if res.GetAccepted() {
				a.Accepted++
				continue
			}
			reason := res.GetReason()
			if res.GetRetryable() {
				retry = true
			}
			a.Rejected = append(a.Rejected, MessageError{Index: p.Index[i], MessageID: p.Events[i].GetId(), Error: reason})
		}
	}
	switch {
	case retry:
		w.Header().Set("Retry-After", "1")
		a.Error = "some messages could not be stored now; send the request again (messages already stored are deduplicated by messageId)"
		reply(w, http.StatusServiceUnavailable, a)
	case a.Accepted == 0 && p.Total > 0:
		a.Error = a.Rejected[0].Error
		if p.Total > 1 {
			a.Error = fmt.Sprintf("no message was valid; message %d: %s", a.Rejected[0].Index, a.Rejected[0].Error)
		}
		reply(w, http.StatusBadRequest, a)
	default:
		a.Success = true
		reply(w, http.StatusOK, a)
	}
}

// fail answers a whole-request error with its status (ingest.StatusOf).
func (h *Handler) fail(w http.ResponseWriter, err error) {
	st := ingest.StatusOf(err)
	if st.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(st.RetryAfter.Round(time.Second)/time.Second))))
	}
	refuse(w, st.HTTP, err)
}
