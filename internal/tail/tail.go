package tail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/event"
	"github.com/event-grpc/event-grpc/internal/pipeline"
	"github.com/event-grpc/event-grpc/internal/telemetry"
)

// ErrTooMany is returned by Subscribe when MaxSubscribers are attached.
var ErrTooMany = errors.New("tail: too many subscribers")

// Defaults of Config.
const (
	DefaultMaxBytes      = 1 << 20
	DefaultMaxEventBytes = 16 << 10
)

// Config bounds the hub.
type Config struct {
	// MaxSubscribers caps concurrent subscribers (default 8).
	MaxSubscribers int
	// MaxBytes bounds, in bytes of rendered events (Event.Size), what one
	// subscriber may have waiting; events that do not fit are dropped for
	// it and counted (default DefaultMaxBytes). A subscriber never holds
	// the dispatched request itself: Publish copies what the tail shows.
	MaxBytes int
	// MaxEventBytes bounds one event as shown: an event whose JSON is
	// longer is shown as an excerpt, a JSON string of its first
	// MaxEventBytes bytes, with Truncated set (default
	// DefaultMaxEventBytes).
	MaxEventBytes int
	Registerer    prometheus.Registerer
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
func New(cfg Config) (*Hub, error) {
	if cfg.MaxSubscribers <= 0 {
		cfg.MaxSubscribers = 8
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxEventBytes <= 0 {
		cfg.MaxEventBytes = DefaultMaxEventBytes
	}
	h := &Hub{cfg: cfg,
		dropped:   telemetry.NewCounter("eventgrpc_tail_dropped_events_total", "Accepted events not shown to a tail subscriber because it read too slowly (the events themselves were not affected)."),
		delivered: telemetry.NewCounter("eventgrpc_tail_delivered_events_total", "Events handed to tail subscribers after filters and sampling."),
	}
	subscribers := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "eventgrpc_tail_subscribers", Help: "Tail subscribers attached now.",
	}, func() float64 { return float64(h.active.Load()) })
	if err := errors.Join(
		telemetry.Register(cfg.Registerer, &h.dropped, &h.delivered),
		telemetry.Register(cfg.Registerer, &subscribers),
	); err != nil {
		return nil, fmt.Errorf("tail: %w", err)
	}
	return h, nil
}

// Subscribers is how many subscribers are attached.
func (h *Hub) Subscribers() int { return int(h.active.Load()) }

// MaxBytes is the per-subscriber bound in bytes (Config.MaxBytes).
func (h *Hub) MaxBytes() int { return h.cfg.MaxBytes }

// Publish offers one dispatched request and its response. It never blocks
// and allocates nothing when there is no subscriber. Each subscriber gets
// copies of the events it is shown, rendered here (once for all), within
// its byte bound: nothing of req or resp is kept after Publish returns.
func (h *Hub) Publish(src pipeline.Source, req *eventgrpcv1.Events, resp *eventgrpcv1.Response) {
	if h == nil || h.active.Load() == 0 || resp.GetAccepted() == 0 {
		return
	}
	subs := *h.subs.Load()
	r := renderer{at: time.Now(), src: string(src), req: req, max: h.cfg.MaxEventBytes}
	for _, s := range subs {
		if s.f.Source != "" && s.f.Source != r.src || !matchHeader(req.GetHeader(), s.f.Where) {
			continue
		}
		room := s.room()
		var add []Event
		size := 0
		var dropped uint64
		for _, res := range resp.GetResults() {
			i := int(res.GetIndex())
			if !res.GetAccepted() || i < 0 || i >= len(req.GetEvents()) {
				continue
			}
			ev := req.GetEvents()[i]
			if !s.f.wants(ev, res) {
				continue
			}
			if room-size <= 0 { // full: skip the rendering too
				dropped++
				continue
			}
			e := r.event(i, res)
			if n := e.Size(); size+n <= room {
				add = append(add, e)
				size += n
				continue
			}
			dropped++
		}
		if len(add) > 0 {
			dropped += s.push(add)
		}
		if dropped > 0 {
			s.dropped.Add(dropped)
			h.dropped.Add(float64(dropped))
		}
	}
}

// renderer renders a request's events for the tail, each at most once.
type renderer struct {
	at   time.Time
	src  string
	req  *eventgrpcv1.Events
	max  int
	hdr  []byte
	done map[int]Event
}

func (r *renderer) event(i int, res *eventgrpcv1.EventResult) Event {
	if e, ok := r.done[i]; ok {
		return e
	}
	if r.hdr == nil {
		hdr, _ := jsonOpts.Marshal(r.req.GetHeader())
		r.hdr, _ = excerpt(hdr, r.max)
	}
	ev := r.req.GetEvents()[i]
	typ, _ := event.Name(ev)
	id := res.GetEventId()
	if id == "" {
		id = ev.GetId()
	}
	body, _ := jsonOpts.Marshal(ev)
	body, cut := excerpt(body, r.max)
	e := Event{Time: r.at, Source: r.src, Type: typ, ID: clip(id, 256), Header: r.hdr, Event: body, Truncated: cut}
	if r.done == nil {
		r.done = map[int]Event{}
	}
	r.done[i] = e
	return e
}

// excerpt returns b when it is at most max bytes; else a JSON string of
// its first max bytes (whole UTF-8 characters) and b's length.
func excerpt(b []byte, max int) ([]byte, int) {
	if len(b) <= max {
		return b, 0
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	s, _ := json.Marshal(string(b[:cut]) + "…")
	return s, len(b)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
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

// wants reports whether the filter's per-event tests pass (the source and
// header were tested for the whole request).
func (f Filter) wants(ev *eventgrpcv1.Event, res *eventgrpcv1.EventResult) bool {
	if f.Type != "" {
		typ, _ := event.Name(ev)
		if f.Type != typ && !(typ == "CustomEvent" && f.Type == ev.GetCustomEvent().GetName()) {
			return false
		}
	}
	if want, ok := f.Where["id"]; ok {
		id := res.GetEventId()
		if id == "" {
			id = ev.GetId()
		}
		if want != id {
			return false
		}
	}
	return !(f.Sample > 0 && f.Sample < 1 && rand.Float64() >= f.Sample)
}

// Event is one accepted event as the tail shows it.
type Event struct {
	Time   time.Time `json:"time"`
	Source string    `json:"source"`
	Type   string    `json:"type"`
	ID     string    `json:"id"`
	Header jsonRaw   `json:"header"`
	Event  jsonRaw   `json:"event"`
	// Truncated is the length of the event's JSON when Event is an
	// excerpt of it (a JSON string), else 0.
	Truncated int `json:"truncated,omitempty"`
}

// Size is what the event counts against a subscriber's byte bound: its
// fields and the JSON around them.
func (e Event) Size() int {
	return len(e.Source) + len(e.Type) + len(e.ID) + len(e.Header) + len(e.Event) + 128
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
	mu      sync.Mutex // guards queue and bytes
	queue   []Event
	bytes   int
	wake    chan struct{} // a token when queue became non-empty
	dropped atomic.Uint64
	once    sync.Once
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
	s := &Sub{hub: h, f: f, wake: make(chan struct{}, 1)}
	next := append(append(make([]*Sub, 0, len(cur)+1), cur...), s)
	h.subs.Store(&next)
	h.active.Add(1)
	return s, nil
}

// room is how many bytes the subscriber may still take: a first look,
// before rendering; push decides under the lock.
func (s *Sub) room() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hub.cfg.MaxBytes - s.bytes
}

// push queues the events that still fit the byte bound, in order, and
// returns how many did not: dispatches to the same subscriber run
// concurrently, so the room seen before rendering may have been taken.
func (s *Sub) push(evs []Event) (dropped uint64) {
	s.mu.Lock()
	kept := 0
	for _, e := range evs {
		if n := e.Size(); s.bytes+n <= s.hub.cfg.MaxBytes {
			s.queue = append(s.queue, e)
			s.bytes += n
			kept++
		}
	}
	s.mu.Unlock()
	dropped = uint64(len(evs) - kept)
	if kept == 0 {
		return dropped
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return dropped
}

// Buffered is how many bytes (Event.Size) the subscriber has waiting; at
// most Config.MaxBytes.
func (s *Sub) Buffered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// Close detaches the subscriber and releases what it had waiting; safe
// twice.
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
		s.mu.Lock()
		s.queue, s.bytes = nil, 0
		s.mu.Unlock()
	})
}

// Dropped is how many accepted events this subscriber missed for reading
// too slowly.
func (s *Sub) Dropped() uint64 { return s.dropped.Load() }

var jsonOpts = protojson.MarshalOptions{UseProtoNames: false}

// Next blocks until events matching the filter arrive or ctx ends, and
// returns them: everything waiting, at most Config.MaxBytes of it.
func (s *Sub) Next(ctx context.Context) ([]Event, error) {
	for {
		s.mu.Lock()
		out := s.queue
		s.queue, s.bytes = nil, 0
		s.mu.Unlock()
		if len(out) > 0 {
			s.hub.delivered.Add(float64(len(out)))
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.wake:
		}
	}
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
