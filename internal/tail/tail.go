package tail

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/event"
	"github.com/event-grpc/event-grpc/internal/pipeline"
)

// ErrTooMany is returned by Subscribe when MaxSubscribers are attached.
var ErrTooMany = errors.New("tail: too many subscribers")

// Config bounds the hub.
type Config struct {
	// MaxSubscribers caps concurrent subscribers (default 8).
	MaxSubscribers int
	// Buffer is how many dispatched requests a subscriber may have waiting
	// before newer ones are dropped for it (default 64).
	Buffer     int
	Registerer prometheus.Registerer
}

// Hub fans accepted events out to subscribers. Safe for concurrent use.
type Hub struct {
	cfg       Config
	active    atomic.Int32
	mu        sync.Mutex             // guards changes of subs
	subs      atomic.Pointer[[]*Sub] // copy on write: Publish takes no lock
	dropped   prometheus.Counter
	delivered prometheus.Counter
}

// New returns a hub; its metrics are registered on cfg.Registerer (nil:
// unregistered).
func New(cfg Config) *Hub {
	if cfg.MaxSubscribers <= 0 {
		cfg.MaxSubscribers = 8
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = 64
	}
	h := &Hub{cfg: cfg,
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventgrpc_tail_dropped_events_total",
			Help: "Accepted events not shown to a tail subscriber because it read too slowly (the events themselves were not affected).",
		}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventgrpc_tail_delivered_events_total", Help: "Events handed to tail subscribers after filters and sampling.",
		}),
	}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(h.dropped, h.delivered, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "eventgrpc_tail_subscribers", Help: "Tail subscribers attached now.",
		}, func() float64 { return float64(h.active.Load()) }))
	}
	return h
}

// Subscribers is how many subscribers are attached.
func (h *Hub) Subscribers() int { return int(h.active.Load()) }

// batch is one dispatched request as the ingest path offered it. The
// request and response are only read after Dispatch returned, when the
// ingest path no longer writes them.
type batch struct {
	at   time.Time
	src  pipeline.Source
	req  *eventgrpcv1.Events
	resp *eventgrpcv1.Response
}

// Publish offers one dispatched request and its response. It never blocks
// and allocates nothing when there is no subscriber.
func (h *Hub) Publish(src pipeline.Source, req *eventgrpcv1.Events, resp *eventgrpcv1.Response) {
	if h == nil || h.active.Load() == 0 || resp.GetAccepted() == 0 {
		return
	}
	b := batch{at: time.Now(), src: src, req: req, resp: resp}
	for _, s := range *h.subs.Load() {
		select {
		case s.ch <- b:
		default:
			n := uint64(resp.GetAccepted())
			s.dropped.Add(n)
			h.dropped.Add(float64(n))
		}
	}
}

// Dispatcher is the pipeline as the ingest servers call it.
type Dispatcher interface {
	Dispatch(ctx context.Context, src pipeline.Source, req *eventgrpcv1.Events) (*eventgrpcv1.Response, error)
}

// Wrap returns next with every successful dispatch offered to the hub.
func (h *Hub) Wrap(next Dispatcher) Dispatcher { return tapped{next, h} }

type tapped struct {
	next Dispatcher
	hub  *Hub
}

func (t tapped) Dispatch(ctx context.Context, src pipeline.Source, req *eventgrpcv1.Events) (*eventgrpcv1.Response, error) {
	resp, err := t.next.Dispatch(ctx, src, req)
	if err == nil {
		t.hub.Publish(src, req, resp)
	}
	return resp, err
}

// Filter selects the events a subscriber sees. Zero values match all.
type Filter struct {
	Type   string // event type name, e.g. LaunchEvent (a CustomEvent also matches its own name)
	Source string // grpc, http, …
	// Where are header fields that must equal the value, by proto name
	// (user_id), JSON name (userId) or the event's "id".
	Where map[string]string
	// Sample is the fraction 0..1 of matching events shown (0 or ≥1: all).
	Sample float64
}

// Event is one accepted event as the tail shows it.
type Event struct {
	Time   time.Time `json:"time"`
	Source string    `json:"source"`
	Type   string    `json:"type"`
	ID     string    `json:"id"`
	Header jsonRaw   `json:"header"`
	Event  jsonRaw   `json:"event"`
}

type jsonRaw []byte

func (j jsonRaw) MarshalJSON() ([]byte, error) {
	if len(j) == 0 {
		return []byte("null"), nil
	}
	return j, nil
}

// Sub is one subscriber. Not safe for concurrent Next calls.
type Sub struct {
	hub     *Hub
	f       Filter
	ch      chan batch
	dropped atomic.Uint64
	once    sync.Once
	pending []Event
}

// Subscribe attaches a subscriber; Close it when done.
func (h *Hub) Subscribe(f Filter) (*Sub, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var cur []*Sub
	if p := h.subs.Load(); p != nil {
		cur = *p
	}
	if len(cur) >= h.cfg.MaxSubscribers {
		return nil, ErrTooMany
	}
	s := &Sub{hub: h, f: f, ch: make(chan batch, h.cfg.Buffer)}
	next := append(append(make([]*Sub, 0, len(cur)+1), cur...), s)
	h.subs.Store(&next)
	h.active.Add(1)
	return s, nil
}

// Close detaches the subscriber; safe twice.
func (s *Sub) Close() {
	s.once.Do(func() {
		h := s.hub
		h.mu.Lock()
		var next []*Sub
		for _, o := range *h.subs.Load() {
			if o != s {
				next = append(next, o)
			}
		}
		h.subs.Store(&next)
		h.active.Add(-1)
		h.mu.Unlock()
	})
}

// Dropped is how many accepted events this subscriber missed for reading
// too slowly.
func (s *Sub) Dropped() uint64 { return s.dropped.Load() }

var jsonOpts = protojson.MarshalOptions{UseProtoNames: false}

// Next blocks until events matching the filter arrive or ctx ends, and
// returns them.
func (s *Sub) Next(ctx context.Context) ([]Event, error) {
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case b := <-s.ch:
			if out := s.render(b); len(out) > 0 {
				s.hub.delivered.Add(float64(len(out)))
				return out, nil
			}
		}
	}
}

func (s *Sub) render(b batch) []Event {
	if s.f.Source != "" && s.f.Source != string(b.src) {
		return nil
	}
	if !matchHeader(b.req.GetHeader(), s.f.Where) {
		return nil
	}
	var out []Event
	var hdr []byte
	evs := b.req.GetEvents()
	for _, r := range b.resp.GetResults() {
		i := int(r.GetIndex())
		if !r.GetAccepted() || i < 0 || i >= len(evs) {
			continue
		}
		ev := evs[i]
		typ, _ := event.Name(ev)
		if s.f.Type != "" && s.f.Type != typ && !(typ == "CustomEvent" && s.f.Type == ev.GetCustomEvent().GetName()) {
			continue
		}
		id := r.GetEventId()
		if id == "" {
			id = ev.GetId()
		}
		if want, ok := s.f.Where["id"]; ok && want != id {
			continue
		}
		if s.f.Sample > 0 && s.f.Sample < 1 && rand.Float64() >= s.f.Sample {
			continue
		}
		if hdr == nil {
			hdr, _ = jsonOpts.Marshal(b.req.GetHeader())
		}
		body, _ := jsonOpts.Marshal(ev)
		out = append(out, Event{Time: b.at, Source: string(b.src), Type: typ, ID: id, Header: hdr, Event: body})
	}
	return out
}

// matchHeader checks the where-fields against the request header.
func matchHeader(h *eventgrpcv1.Header, where map[string]string) bool {
	if len(where) == 0 {
		return true
	}
	m := h.ProtoReflect()
	fields := m.Descriptor().Fields()
	for k, want := range where {
		if k == "id" {
			continue
		}
		fd := fields.ByJSONName(k)
		if fd == nil {
			fd = fields.ByName(protoreflect.Name(k))
		}
		if fd == nil {
			fd = fields.ByJSONName(camel(k))
		}
		if fd == nil || fd.IsList() || fd.IsMap() || fd.Message() != nil {
			return false
		}
		if got := m.Get(fd).String(); got != want {
			return false
		}
	}
	return true
}

// FieldKnown reports whether name is a header field a Where can test.
func FieldKnown(name string) bool {
	if name == "id" {
		return true
	}
	fields := (&eventgrpcv1.Header{}).ProtoReflect().Descriptor().Fields()
	fd := fields.ByJSONName(name)
	if fd == nil {
		fd = fields.ByName(protoreflect.Name(name))
	}
	if fd == nil {
		fd = fields.ByJSONName(camel(name))
	}
	return fd != nil && !fd.IsList() && !fd.IsMap() && fd.Message() == nil
}

func camel(s string) string {
	var b strings.Builder
	up := false
	for _, r := range s {
		if r == '_' {
			up = true
			continue
		}
		if up && r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		up = false
		b.WriteRune(r)
	}
	return b.String()
}
