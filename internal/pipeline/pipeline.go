package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/dedupe"
	"github.com/event-grpc/event-grpc/internal/eventtype"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/workpool"
)

// ContentType names the wire form of the messages the pipeline publishes.
const ContentType = "application/x-protobuf-delimited; proto=eventgrpc.v1.Events"

// ErrOverloaded is returned when the worker pool and its queue are full.
var ErrOverloaded = errors.New("ingest queue is full")

// Config configures a Pipeline.
type Config struct {
	Workers          int           // concurrent publishing workers
	Queue            int           // requests that may wait for a worker
	Linger           time.Duration // coalescing window per routing key; 0 = none
	MaxMessageEvents int           // events per broker message
	MaxEvents        int           // events per request
	MaxEventBytes    int           // encoded size of one event
	MaxStringLength  int           // bytes of any one string field (header or payload)
	MaxParams        int           // entries of a CustomEvent's params
	MaxPast          time.Duration // older events are rejected
	Exchange         string        // where events are published
	Logger           *slog.Logger
	Registerer       prometheus.Registerer
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Dedupe remembers published event ids (DEDUPE_WINDOW); nil = off.
	Dedupe dedupe.Deduper
}

// Pipeline validates, groups and publishes events. Safe for concurrent use.
type Pipeline struct {
	cfg  Config
	pub  broker.Publisher
	log  *slog.Logger
	now  func() time.Time
	pool *workpool.Pool[*job]
	coal *coalescer
	m    *metrics
}

type job struct {
	ctx    context.Context
	groups []*group
	done   chan struct{}
}

// group is one request's events of one routing key.
type group struct {
	key     string
	header  *eventgrpcv1.Header
	events  []*eventgrpcv1.Event
	indexes []int    // positions in the request
	err     error    // the publish outcome
	claimed []string // ids claimed from Dedupe: Commit or Forget them
}

// New starts the worker pool.
func New(cfg Config, pub broker.Publisher) *Pipeline {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.MaxMessageEvents <= 0 {
		cfg.MaxMessageEvents = 1000
	}
	p := &Pipeline{
		cfg: cfg,
		pub: pub,
		log: cfg.Logger,
		now: cfg.Now,
		m:   newMetrics(cfg.Registerer),
	}
	p.coal = newCoalescer(pub, cfg.Exchange, cfg.Linger, cfg.MaxMessageEvents, p.now, p.m)
	p.pool = workpool.New(cfg.Workers, cfg.Queue, p.m.queued, p.publish)
	return p
}

// Source tells the pipeline where a request came from, for the metrics.
type Source string

// Sources of events.
const (
	SourceGRPC Source = "grpc"
	SourceHTTP Source = "http"
)

// Dispatch validates req's events, publishes the accepted ones and reports
// each event's fate by index. It returns an error only when nothing could be
// tried: the pool is full (fault.Throttled wrapping ErrOverloaded), the
// pipeline is shut down, or no event could be made durable because the
// broker failed (the broker's error, classified).
func (p *Pipeline) Dispatch(ctx context.Context, src Source, req *eventgrpcv1.Events) (*eventgrpcv1.Response, error) {
	evs := req.GetEvents()
	p.m.requests.WithLabelValues(string(src)).Inc()
	if len(evs) > p.cfg.MaxEvents {
		p.m.received.WithLabelValues(string(src)).Add(float64(len(evs)))
		p.m.rejected.WithLabelValues(string(src), "too_many_events").Add(float64(len(evs)))
		return nil, fault.Permanentf("request has %d events; the limit is %d (MAX_EVENTS_PER_REQUEST)", len(evs), p.cfg.MaxEvents)
	}
	if err := p.checkStrings(req.GetHeader(), "header"); err != nil {
		p.m.received.WithLabelValues(string(src)).Add(float64(len(evs)))
		p.m.rejected.WithLabelValues(string(src), "header_too_long").Add(float64(len(evs)))
		return nil, err
	}
	now := p.now()
	resp := &eventgrpcv1.Response{Results: make([]*eventgrpcv1.EventResult, len(evs))}
	byKey := map[string]*group{}
	var groups []*group
	var given map[int]bool // indexes whose id came from the client
	if p.cfg.Dedupe != nil {
		given = make(map[int]bool, len(evs))
	}
	for i, ev := range evs {
		res := &eventgrpcv1.EventResult{Index: int32(i)}
		resp.Results[i] = res
		if given != nil && ev.GetId() != "" {
			given[i] = true
		}
		key, reason := p.normalize(ev, now)
		res.EventId = ev.GetId()
		if reason != "" {
			res.Reason = reason
			p.m.rejected.WithLabelValues(string(src), reasonLabel(reason)).Inc()
			continue
		}
		g := byKey[key]
		if g == nil {
			g = &group{key: key, header: req.GetHeader()}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.events = append(g.events, ev)
		g.indexes = append(g.indexes, i)
	}
	p.m.received.WithLabelValues(string(src)).Add(float64(len(evs)))

	if p.cfg.Dedupe != nil && len(groups) > 0 {
		groups = p.dedupe(ctx, src, groups, given, resp)
	}
	if len(groups) > 0 {
		if err := p.run(ctx, groups); err != nil {
			p.m.refused.WithLabelValues(string(src), fault.KindOf(err).String()).Add(float64(len(evs)))
			return nil, err
		}
	}
	var firstErr error
	notDurable := 0
	for _, g := range groups {
		for _, i := range g.indexes {
			r := resp.Results[i]
			if g.err != nil {
				r.Reason = publishReason(g.err)
				if firstErr == nil {
					firstErr = g.err
				}
				notDurable++
				continue
			}
			r.Accepted = true
			resp.Accepted++
			p.m.accepted.WithLabelValues(string(src), g.keyLabel()).Inc()
		}
	}
	resp.Rejected = int32(len(evs)) - resp.Accepted
	if firstErr != nil && resp.Accepted == 0 {
		// Nothing was made durable because the broker failed: the caller
		// answers with the broker's status so clients retry the request;
		// its events count as refused, like any whole-request refusal.
		p.m.refused.WithLabelValues(string(src), fault.KindOf(firstErr).String()).Add(float64(notDurable))
		return nil, firstErr
	}
	p.m.rejected.WithLabelValues(string(src), "not_durable").Add(float64(notDurable))
	switch {
	case resp.Rejected == 0:
		resp.Status = eventgrpcv1.Status_STATUS_OK
	case resp.Accepted > 0:
		resp.Status = eventgrpcv1.Status_STATUS_PARTIAL
		resp.Message = fmt.Sprintf("%d of %d events rejected; see results", resp.Rejected, len(evs))
	default:
		resp.Status = eventgrpcv1.Status_STATUS_REJECTED
		resp.Message = "every event was rejected; see results"
	}
	return resp, nil
}

// run hands the groups to a worker and waits for it. The bounded queue is
// never waited on: a full queue is an immediate, loud refusal.
func (p *Pipeline) run(ctx context.Context, groups []*group) error {
	j := &job{ctx: ctx, groups: groups, done: make(chan struct{})}
	if err := p.pool.Submit(j); err != nil {
		if errors.Is(err, workpool.ErrFull) {
			err = fault.Throttled(fmt.Errorf("%w: %d requests waiting for %d workers (EVENT_BUFFERED_CHANNEL_SIZE, EVENT_WORKER_POOL_SIZE)", ErrOverloaded, p.pool.Cap(), p.cfg.Workers), time.Second)
		} else {
			err = fault.Transient(fmt.Errorf("ingest is shutting down: %w", broker.ErrClosed))
		}
		p.settle(groups, err)
		return err
	}
	select {
	case <-j.done:
		return nil
	case <-ctx.Done():
		// The worker still finishes the publish; the client hears that
		// it gave up, so it may retry (storage dedupes on event_id).
		return fault.Transient(ctx.Err())
	}
}

func (p *Pipeline) publish(j *job) {
	defer close(j.done)
	defer p.settle(j.groups, nil) // runs before close(j.done): the reply follows the Commit
	if err := j.ctx.Err(); err != nil {
		for _, g := range j.groups {
			g.err = fault.Transient(err)
		}
		return
	}
	var wg sync.WaitGroup
	for _, g := range j.groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.err = p.coal.add(j.ctx, g)
		}()
	}
	wg.Wait()
}

var customName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_\-]{0,63}$`)

// MaxIDLength bounds a client-given event id.
const MaxIDLength = 128

// normalize checks one event, fills its id, clamps its timestamp, and
// returns its routing key, or a reason to reject it.
func (p *Pipeline) normalize(ev *eventgrpcv1.Event, now time.Time) (key, reason string) {
	if ev == nil {
		return "", "event is empty"
	}
	name, err := eventtype.Name(ev)
	if err != nil {
		return "", err.Error()
	}
	if lim := p.cfg.MaxEventBytes; lim > 0 {
		if n := proto.Size(ev); n > lim {
			return "", fmt.Sprintf("event is %d bytes encoded; the limit is %d (MAX_EVENT_BYTES)", n, lim)
		}
	}
	if err := p.checkStrings(ev, "event"); err != nil {
		return "", err.Error()
	}
	key = name
	if c := ev.GetCustomEvent(); c != nil {
		if !customName.MatchString(c.GetName()) {
			return "", fmt.Sprintf("CustomEvent.name %q must be 1-64 letters, digits, '_' or '-', starting with a letter", truncate(c.GetName(), 80))
		}
		if lim := p.cfg.MaxParams; lim > 0 && len(c.GetParams()) > lim {
			return "", fmt.Sprintf("CustomEvent.params has %d entries; the limit is %d (MAX_PARAMS)", len(c.GetParams()), lim)
		}
		key = name + "." + c.GetName()
	}
	switch id := ev.GetId(); {
	case id == "":
		ev.Id = uuid.Must(uuid.NewV7()).String()
	case len(id) > MaxIDLength:
		return "", fmt.Sprintf("id is %d bytes; the limit is %d", len(id), MaxIDLength)
	case !utf8.ValidString(id):
		return "", "id is not valid UTF-8"
	}
	nowMs := now.UnixMilli()
	if ev.GetTimestamp() == "" {
		ev.Timestamp = strconv.FormatInt(nowMs, 10)
		return key, ""
	}
	ts, err := strconv.ParseInt(ev.GetTimestamp(), 10, 64)
	if err != nil {
		return "", fmt.Sprintf("timestamp %q is not epoch milliseconds", truncate(ev.GetTimestamp(), 40))
	}
	if ts > nowMs {
		ev.Timestamp = strconv.FormatInt(nowMs, 10) // clamp the future to now, as the seed did
	} else if ts < nowMs-p.cfg.MaxPast.Milliseconds() {
		return "", fmt.Sprintf("timestamp %d is older than the accepted age %v (MAX_EVENT_AGE)", ts, p.cfg.MaxPast)
	}
	return key, ""
}

// checkStrings refuses a message holding a string (or map key) longer
// than MaxStringLength, naming the field. A message smaller than the limit
// cannot hold one, so the walk is skipped for almost every event.
func (p *Pipeline) checkStrings(m proto.Message, what string) error {
	lim := p.cfg.MaxStringLength
	if lim <= 0 || m == nil || proto.Size(m) <= lim {
		return nil
	}
	var bad string
	var walk func(r protoreflect.Message, path string)
	walk = func(r protoreflect.Message, path string) {
		r.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			name := path + "." + string(fd.Name())
			check := func(v protoreflect.Value, fd protoreflect.FieldDescriptor) {
				switch fd.Kind() {
				case protoreflect.StringKind:
					if len(v.String()) > lim && bad == "" {
						bad = fmt.Sprintf("%s is %d bytes; the limit is %d (MAX_STRING_LENGTH)", name, len(v.String()), lim)
					}
				case protoreflect.BytesKind:
					if len(v.Bytes()) > lim && bad == "" {
						bad = fmt.Sprintf("%s is %d bytes; the limit is %d (MAX_STRING_LENGTH)", name, len(v.Bytes()), lim)
					}
				case protoreflect.MessageKind, protoreflect.GroupKind:
					walk(v.Message(), name)
				}
			}
			switch {
			case fd.IsList():
				l := v.List()
				for i := range l.Len() {
					check(l.Get(i), fd)
				}
			case fd.IsMap():
				v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
					if len(k.String()) > lim && bad == "" {
						bad = fmt.Sprintf("%s key is %d bytes; the limit is %d (MAX_STRING_LENGTH)", name, len(k.String()), lim)
					}
					check(mv, fd.MapValue())
					return bad == ""
				})
			default:
				check(v, fd)
			}
			return bad == ""
		})
	}
	walk(m.ProtoReflect(), what)
	if bad != "" {
		return fault.Permanentf("%s", bad)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// keyLabel is the metric label of the group's type (custom names are not
// labels: they are unbounded).
func (g *group) keyLabel() string {
	if ev := g.events[0]; ev.GetCustomEvent() != nil {
		return "CustomEvent"
	}
	return g.key
}

func reasonLabel(reason string) string {
	switch {
	case reason == eventtype.ErrNoEventOf.Error() || reason == "event is empty":
		return "no_event_of"
	case len(reason) > 9 && reason[:9] == "timestamp":
		return "timestamp"
	case len(reason) > 2 && reason[:2] == "id":
		return "id"
	case strings.HasPrefix(reason, "CustomEvent.params"):
		return "too_many_params"
	case strings.HasPrefix(reason, "CustomEvent"):
		return "custom_name"
	case strings.HasPrefix(reason, "event is") && strings.Contains(reason, "MAX_EVENT_BYTES"):
		return "event_too_large"
	case strings.Contains(reason, "MAX_STRING_LENGTH"):
		return "string_too_long"
	}
	return "other"
}

func publishReason(err error) string {
	switch {
	case fault.IsThrottled(err):
		return "RESOURCE_EXHAUSTED: " + err.Error()
	case fault.IsPermanent(err):
		return "INTERNAL: " + err.Error()
	}
	return "UNAVAILABLE: " + err.Error()
}

// Shutdown stops taking requests and waits, within ctx, for the workers to
// finish the ones they hold. Safe to call twice.
func (p *Pipeline) Shutdown(ctx context.Context) error {
	p.pool.Close()
	done := make(chan struct{})
	go func() { <-p.pool.Stopped(); p.coal.wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("pipeline drain: %w", ctx.Err())
	}
}

// encode writes groups as one message body.
func encode(parts []*group) ([]byte, error) {
	var buf []byte
	for _, g := range parts {
		b, err := proto.Marshal(&eventgrpcv1.Events{Header: g.header, Events: g.events})
		if err != nil {
			return nil, err
		}
		buf = protowire.AppendVarint(buf, uint64(len(b)))
		buf = append(buf, b...)
	}
	return buf, nil
}

// Decode reads a message body written by the pipeline.
func Decode(body []byte) ([]*eventgrpcv1.Events, error) {
	var out []*eventgrpcv1.Events
	for len(body) > 0 {
		n, l := protowire.ConsumeVarint(body)
		if l < 0 {
			return nil, fault.Permanentf("event batch: bad length prefix")
		}
		body = body[l:]
		if n > uint64(len(body)) {
			return nil, fault.Permanentf("event batch: part of %d bytes exceeds the %d left", n, len(body))
		}
		ev := &eventgrpcv1.Events{}
		if err := proto.Unmarshal(body[:n], ev); err != nil {
			return nil, fault.Permanentf("event batch: %v", err)
		}
		out = append(out, ev)
		body = body[n:]
	}
	return out, nil
}

// dedupe claims the client-given ids of groups. Done ids are answered
// accepted without publishing; InFlight ids are rejected with a retry hint
// (another request is publishing them and may still fail); New ids stay and
// are remembered in g.claimed. Minted ids are new by construction and are
// not asked about. It returns the groups that still have events.
func (p *Pipeline) dedupe(ctx context.Context, src Source, groups []*group, given map[int]bool, resp *eventgrpcv1.Response) []*group {
	var ids []string
	for _, g := range groups {
		for j, ev := range g.events {
			if given[g.indexes[j]] {
				ids = append(ids, ev.GetId())
			}
		}
	}
	if len(ids) == 0 {
		return groups
	}
	states, err := p.cfg.Dedupe.Claim(ctx, ids)
	if err != nil {
		// Publish everything: storage dedupes on event_id. (dedupe.Layered
		// never fails; this is for a bare Redis deduper.)
		p.m.dedupeErrors.Inc()
		return groups
	}
	k := 0
	kept := groups[:0]
	for _, g := range groups {
		evs, idx := g.events[:0:0], g.indexes[:0:0]
		for j, ev := range g.events {
			i := g.indexes[j]
			st := dedupe.New
			if given[i] {
				st = states[k]
				k++
			}
			switch st {
			case dedupe.Done:
				resp.Results[i].Accepted = true
				resp.Accepted++
				p.m.duplicates.WithLabelValues(string(src)).Inc()
			case dedupe.InFlight:
				resp.Results[i].Reason = "UNAVAILABLE: an event with this id is being published by another request; retry it"
				p.m.rejected.WithLabelValues(string(src), "in_flight").Inc()
			default:
				evs = append(evs, ev)
				idx = append(idx, i)
				if given[i] {
					g.claimed = append(g.claimed, ev.GetId())
				}
			}
		}
		if len(evs) > 0 {
			g.events, g.indexes = evs, idx
			kept = append(kept, g)
		}
	}
	return kept
}

// settle tells Dedupe how the claimed ids ended: Commit when the group's
// publish was confirmed, Forget otherwise (refused, broker error, or the
// client gave up — then the publish may still have happened, and a
// duplicate publish is deduped in storage, where a lost event is not).
// err, when set, is the outcome of every group.
func (p *Pipeline) settle(groups []*group, err error) {
	if p.cfg.Dedupe == nil {
		return
	}
	var done, failed []string
	for _, g := range groups {
		if err == nil && g.err == nil {
			done = append(done, g.claimed...)
		} else {
			failed = append(failed, g.claimed...)
		}
	}
	// dedupe.Layered never returns errors here (it counts Redis failures).
	ctx := context.Background()
	if len(done) > 0 {
		if err := p.cfg.Dedupe.Commit(ctx, done); err != nil {
			p.m.dedupeErrors.Inc()
		}
	}
	if len(failed) > 0 {
		if err := p.cfg.Dedupe.Forget(ctx, failed); err != nil {
			p.m.dedupeErrors.Inc()
		}
	}
}
