package httpsrv

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// DeadLetter is one dead letter as the admin API shows it.
type DeadLetter struct {
	RoutingKey string            `json:"routing_key"`
	Exchange   string            `json:"exchange"`
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body"`
	Published  time.Time         `json:"published,omitzero"`
}

// DLQList is the answer of GET /admin/dlq/{queue}.
type DLQList struct {
	Queue      string       `json:"queue"`
	ErrorQueue string       `json:"error_queue"`
	Count      int          `json:"count"`
	Sample     []DeadLetter `json:"sample"`
}

// MountAdmin adds the dead-letter admin routes (behind Operator): GET /admin/dlq/{queue}?limit=N and
// POST /admin/dlq/{queue}/replay?limit=N. {queue} is a queue of the
// topology; its error queue is the one read.
func (s *Server) MountAdmin(top *topology.Topology, dl broker.DeadLetters) {
	errorQueue := func(w http.ResponseWriter, r *http.Request) (string, int, bool) {
		q, ok := top.Queue(r.PathValue("queue"))
		if !ok {
			Error(w, http.StatusNotFound, errors.New("no queue "+strconv.Quote(r.PathValue("queue"))+" in the topology"))
			return "", 0, false
		}
		limit := 10
		if v := r.URL.Query().Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				Error(w, http.StatusBadRequest, errors.New("limit must be a non-negative integer"))
				return "", 0, false
			}
			limit = n
		}
		return q.ErrorQueue(), limit, true
	}
	s.admin.Handle("GET /admin/dlq/{queue}", s.Operator(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		eq, limit, ok := errorQueue(w, r)
		if !ok {
			return
		}
		n, sample, err := dl.Peek(r.Context(), eq, min(limit, 1000))
		if err != nil {
			Fail(w, err)
			return
		}
		out := DLQList{Queue: r.PathValue("queue"), ErrorQueue: eq, Count: n, Sample: []DeadLetter{}}
		for _, d := range sample {
			out.Sample = append(out.Sample, DeadLetter{RoutingKey: d.RoutingKey, Exchange: d.Exchange, Headers: d.Headers, Body: string(d.Body), Published: d.Published})
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	})))
	s.admin.Handle("POST /admin/dlq/{queue}/replay", s.Operator(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		eq, limit, ok := errorQueue(w, r)
		if !ok {
			return
		}
		if r.URL.Query().Get("limit") == "" {
			limit = 1 << 30
		}
		n, err := dl.Replay(r.Context(), eq, limit)
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			st := fault.KindOf(err)
			code := http.StatusServiceUnavailable
			if st == fault.KindPermanent {
				code = http.StatusBadRequest
			}
			w.WriteHeader(code)
			json.NewEncoder(w).Encode(map[string]any{"replayed": n, "error": err.Error()})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"replayed": n})
	})))
}
