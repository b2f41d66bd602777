package httpsrv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/event-grpc/event-grpc/internal/tail"
)

// MountTail adds GET /v1/tail: accepted events as server-sent events
// ("event: events", data a JSON array of tail.Event; "event: dropped",
// data the count this reader missed so far). Query: type, source,
// where=field=value (repeatable), sample=0..1. Loopback only unless
// QueryRemote (TODO(guard): the shared admin guard once it lands).
func (s *Server) MountTail(h *tail.Hub) {
	s.admin.Handle("GET /v1/tail", s.Operator(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := tailFilter(r)
		if err != nil {
			Error(w, http.StatusBadRequest, err)
			return
		}
		flusher, ok := w.(http.Flusher)
		if !ok {
			Error(w, http.StatusInternalServerError, errors.New("streaming is not supported by this connection"))
			return
		}
		sub, err := h.Subscribe(f)
		if errors.Is(err, tail.ErrTooMany) {
			w.Header().Set("Retry-After", "5")
			Error(w, http.StatusServiceUnavailable, err)
			return
		}
		defer sub.Close()
		// A tail runs for as long as the reader wants: no write deadline.
		rc := http.NewResponseController(w)
		_ = rc.SetWriteDeadline(time.Time{})
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Accel-Buffering", "no")
		fmt.Fprint(w, ": tail attached\n\n")
		flusher.Flush()
		ctx := r.Context()
		var lastDropped uint64
		for {
			wait, cancel := context.WithTimeout(ctx, 15*time.Second)
			evs, err := sub.Next(wait)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if d := sub.Dropped(); d != lastDropped {
				lastDropped = d
				fmt.Fprintf(w, "event: dropped\ndata: %d\n\n", d)
			}
			if err != nil { // idle: a comment keeps proxies from closing the stream
				if _, err := fmt.Fprint(w, ": idle\n\n"); err != nil {
					return
				}
				flusher.Flush()
				continue
			}
			b, _ := json.Marshal(evs)
			if _, err := fmt.Fprintf(w, "event: events\ndata: %s\n\n", b); err != nil {
				return
			}
			flusher.Flush()
		}
	})))
}

func tailFilter(r *http.Request) (tail.Filter, error) {
	q := r.URL.Query()
	f := tail.Filter{Type: q.Get("type"), Source: q.Get("source")}
	for _, w := range q["where"] {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return f, fmt.Errorf("where %q: want field=value, e.g. where=user_id=u-1", w)
		}
		if !tail.FieldKnown(k) {
			return f, fmt.Errorf("where %q: %q is not a header field (e.g. user_id, device_id, client_id) or id", w, k)
		}
		if f.Where == nil {
			f.Where = map[string]string{}
		}
		f.Where[k] = v
	}
	if v := q.Get("sample"); v != "" {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || x <= 0 || x > 1 {
			return f, fmt.Errorf("sample %q: want a fraction in (0, 1]", v)
		}
		f.Sample = x
	}
	return f, nil
}
