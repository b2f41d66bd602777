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
// where=field=value (repeatable), sample=0..1. An operator route (see
// Operator).
//
// A reader holds at most the hub's byte bound of events waiting
// (tail.Config.MaxBytes) and the one message being written; a reader that
// does not take a message within TailWriteTimeout is dropped, so a reader
// that stops reading holds a fixed number of bytes for a bounded time.
func (s *Server) MountTail(h *tail.Hub) {
	timeout := s.cfg.TailWriteTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	s.admin.Handle("GET /v1/tail", s.Operator(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := tailFilter(r)
		if err != nil {
			Error(w, http.StatusBadRequest, err)
			return
		}
		rc := http.NewResponseController(w)
		sub, err := h.Subscribe(f)
		if errors.Is(err, tail.ErrTooMany) {
			w.Header().Set("Retry-After", "5")
			Error(w, http.StatusServiceUnavailable, err)
			return
		}
		defer sub.Close()
		// A tail runs for as long as the reader reads: a deadline per
		// write, not one for the response.
		send := func(parts ...[]byte) bool {
			if err := rc.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
				s.cfg.Logger.Error("tail: cannot set a write deadline; not serving the tail", "err", err)
				return false
			}
			for _, p := range parts {
				if _, err := w.Write(p); err != nil {
					return false
				}
			}
			return rc.Flush() == nil
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Accel-Buffering", "no")
		if !send([]byte(": tail attached\n\n")) {
			return
		}
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
				if !send([]byte("event: dropped\ndata: " + strconv.FormatUint(d, 10) + "\n\n")) {
					return
				}
			}
			if err != nil { // idle: a comment keeps proxies from closing the stream
				if !send([]byte(": idle\n\n")) {
					return
				}
				continue
			}
			b, err := json.Marshal(evs)
			evs = nil
			if err != nil {
				s.cfg.Logger.Error("tail: marshalling events", "err", err)
				return
			}
			// The message is written as it is: no copy of it.
			if !send([]byte("event: events\ndata: "), b, []byte("\n\n")) {
				return
			}
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
