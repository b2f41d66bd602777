package httpsrv

import (
	"context"
	"sync"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/ingest/grpcsrv"
	"github.com/event-grpc/event-grpc/internal/pipeline"
)

// Bounds of the rejected-event samples.
const (
	RejectSampleBytes  = 1024     // of one sample's body excerpt
	RejectReasonBytes  = 256      // of one sample's reason
	RejectSamplesMax   = 50       // samples kept
	RejectSamplesBytes = 64 << 10 // bytes of bodies and reasons kept
	rejectPerRequest   = 3        // samples taken from one request
	rejectPerSecond    = 10       // requests sampled per second, at most
)

// RejectSample is one rejected event as the status page shows it: its body
// (the event in its JSON form, cut at RejectSampleBytes) and the reason.
type RejectSample struct {
	Time      time.Time `json:"time"`
	Source    string    `json:"source"`
	Reason    string    `json:"reason"`
	Body      string    `json:"body"`
	Truncated bool      `json:"truncated,omitempty"`
}

// Rejects keeps the last rejected events: at most RejectSamplesMax samples
// and RejectSamplesBytes of their text, the oldest dropped first. Wrap
// puts it in the dispatch path; at most rejectPerSecond requests a second
// are sampled, so a flood of bad events costs a bounded amount of work.
// Safe for concurrent use.
type Rejects struct {
	mu      sync.Mutex
	ring    []RejectSample // oldest first
	bytes   int
	second  int64
	inSec   int
	dropped uint64
	now     func() time.Time
}

// NewRejects returns an empty ring.
func NewRejects() *Rejects { return &Rejects{now: time.Now} }

// Wrap returns next with its rejections sampled.
func (r *Rejects) Wrap(next grpcsrv.Dispatcher) grpcsrv.Dispatcher { return rejectTap{next, r} }

type rejectTap struct {
	next grpcsrv.Dispatcher
	r    *Rejects
}

func (t rejectTap) Dispatch(ctx context.Context, src pipeline.Source, req *eventgrpcv1.Events) (*eventgrpcv1.Response, error) {
	resp, err := t.next.Dispatch(ctx, src, req)
	switch {
	case err != nil && fault.IsPermanent(err):
		// The whole request was rejected (too many events, header too
		// long): its first event stands for it.
		if evs := req.GetEvents(); len(evs) > 0 && t.r.admit() {
			t.r.add(src, err.Error(), evs[0])
		}
	case err == nil && resp.GetRejected() > 0 && t.r.admit():
		n := 0
		for _, res := range resp.GetResults() {
			if res.GetAccepted() || res.GetReason() == "" {
				continue
			}
			i := int(res.GetIndex())
			if i < 0 || i >= len(req.GetEvents()) {
				continue
			}
			t.r.add(src, res.GetReason(), req.GetEvents()[i])
			if n++; n == rejectPerRequest {
				break
			}
		}
	}
	return resp, err
}

// admit says whether one more request may be sampled this second.
func (r *Rejects) admit() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.now().Unix(); s != r.second {
		r.second, r.inSec = s, 0
	}
	if r.inSec >= rejectPerSecond {
		r.dropped++
		return false
	}
	r.inSec++
	return true
}

func (r *Rejects) add(src pipeline.Source, reason string, ev *eventgrpcv1.Event) {
	body, err := protojson.Marshal(ev)
	if err != nil {
		body = []byte("(event cannot be shown: " + err.Error() + ")")
	}
	s := RejectSample{Source: string(src), Reason: cut(reason, RejectReasonBytes)}
	s.Body = cut(string(body), RejectSampleBytes)
	s.Truncated = len(s.Body) < len(body)
	r.Add(s)
}

// Add keeps s (its body and reason cut to their bounds), dropping the
// oldest samples beyond the count and byte bounds.
func (r *Rejects) Add(s RejectSample) {
	s.Reason = cut(s.Reason, RejectReasonBytes)
	if b := cut(s.Body, RejectSampleBytes); len(b) < len(s.Body) {
		s.Body, s.Truncated = b, true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.Time.IsZero() {
		s.Time = r.now()
	}
	r.ring = append(r.ring, s)
	r.bytes += len(s.Body) + len(s.Reason)
	for len(r.ring) > RejectSamplesMax || r.bytes > RejectSamplesBytes {
		r.bytes -= len(r.ring[0].Body) + len(r.ring[0].Reason)
		r.ring[0] = RejectSample{}
		r.ring = r.ring[1:]
	}
}

// List returns the samples, newest first.
func (r *Rejects) List() []RejectSample {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]RejectSample, len(r.ring))
	for i, s := range r.ring {
		out[len(r.ring)-1-i] = s
	}
	return out
}

// cut shortens s to at most n bytes, at a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
