package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/dedupe"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/telemetry"
	"github.com/event-grpc/event-grpc/internal/workpool"
)

// Config configures a Pipeline.
type Config struct {
	Workers          int           // concurrent publishing workers
	Queue            int           // requests that may wait for a worker
	Linger           time.Duration // coalescing window per destination; 0 = none
	MaxMessageEvents int           // events per broker message
	// MaxMessageBytes bounds a broker message's body; the broker's own
	// limit (broker.Limits) lowers it. Default 1 MiB.
	MaxMessageBytes int
	// MaxInflightBytes bounds the encoded bytes of the requests in the
	// pipeline (waiting for a worker or publishing); beyond it requests
	// are refused as overload. Default 64 MiB.
	MaxInflightBytes int
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
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	pool     *workpool.Pool[*request]
	coal     *coalescer
	routes   *routeCache   // nil when the broker routes by key itself
	maxBytes int           // of a message body, as configured
	limits   broker.Limits // the broker's own, when it has one (see messageLimit)
	inflight atomic.Int64
	m        *metrics
}

// New starts the worker pool.
func New(cfg Config, pub broker.Publisher) (*Pipeline, error) {
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
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 1 << 20
	}
	if cfg.MaxInflightBytes <= 0 {
		cfg.MaxInflightBytes = 64 << 20
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	p := &Pipeline{
		cfg:      cfg,
		log:      cfg.Logger,
		now:      cfg.Now,
		m:        m,
		maxBytes: cfg.MaxMessageBytes,
	}
	inflight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "eventgrpc_ingest_inflight_bytes",
		Help: "Bytes of the in-flight budget held: requests being read (reserved before reading) and requests in the pipeline (INGEST_MAX_INFLIGHT_BYTES).",
	}, func() float64 { return float64(p.inflight.Load()) })
	if err := telemetry.Register(cfg.Registerer, &inflight); err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	if l, ok := pub.(broker.Limits); ok {
		p.limits = l
	}
	p.coal = newCoalescer(pub, cfg.Exchange, cfg.Linger, cfg.MaxMessageEvents, p.messageLimit, p.now, p.m)
	if p.coal.router != nil {
		p.routes = &routeCache{router: p.coal.router, exchange: cfg.Exchange, m: map[string][]string{}}
	}
	p.pool = workpool.New(cfg.Workers, cfg.Queue, p.m.queued, p.publish)
	return p, nil
}

// Source tells the pipeline where a request came from, for the metrics.
type Source string

// Sources of events.
const (
	SourceGRPC Source = "grpc"
	SourceHTTP Source = "http"
	// SourceSegment is the Segment tracking API (internal/ingest/segment).
	SourceSegment Source = "segment"
)

// Dispatch validates req's events, publishes the accepted ones and reports
// each event's fate by index. It returns an error only when nothing could be
// tried: the pool or the byte budget is full (fault.Throttled wrapping
// fault.ErrOverloaded), the pipeline is shut down, or no event could be made
// durable because the broker failed (the broker's error, classified).
func (p *Pipeline) Dispatch(ctx context.Context, src Source, req *eventgrpcv1.Events) (*eventgrpcv1.Response, error) {
	evs := req.GetEvents()
	sm := p.m.source(src)
	sm.requests.Inc()
	sm.received.Add(float64(len(evs)))
	if len(evs) > p.cfg.MaxEvents {
		sm.rejected("too_many_events").Add(float64(len(evs)))
		return nil, fault.Permanentf("request has %d events; the limit is %d (MAX_EVENTS_PER_REQUEST)", len(evs), p.cfg.MaxEvents)
	}
	scope := scopeOf(ctx, req) // before the header is checked and encoded: it may set clientId
	if err := p.checkHeader(req.GetHeader()); err != nil {
		sm.rejected("header_too_long").Add(float64(len(evs)))
		return nil, err
	}
	r := getRequest(src, evs)
	r.ctx = ctx
	if err := r.setHeader(req.GetHeader()); err != nil {
		r.release()
		return nil, fault.Permanent(fmt.Errorf("encode header: %w", err))
	}
	now := p.now()
	results := make([]eventgrpcv1.EventResult, len(evs))
	resp := &eventgrpcv1.Response{Results: make([]*eventgrpcv1.EventResult, len(evs))}
	var counts [numReasons]int32
	dd := p.cfg.Dedupe != nil
	key := requestKey(ctx)
	for i, ev := range evs {
		res := &results[i]
		res.Index = int32(i)
		resp.Results[i] = res
		given := ev.GetId() != ""
		if !given && key != "" && ev != nil {
			ev.Id, given = keyedID(scope, key, i), true
		}
		var sum dedupe.Sum
		size := -1
		r.pspan[i] = -1
		if dd && given {
			sum, size = r.stable(i, ev) // as sent: before the timestamp is filled or clamped
		}
		ts := ev.GetTimestamp()
		v := p.normalize(ev, now, size)
		if ev.GetTimestamp() != ts {
			r.pspan[i] = -1 // the stable encoding is of the event as sent
		}
		res.EventId = ev.GetId()
		if v.reason != reasonNone {
			setFate(res, v.reason.code(), v.text)
			counts[v.reason]++
			continue
		}
		r.st[i] = stPublish
		if dd {
			r.v[i] = v
			if given {
				r.claimed = append(r.claimed, int32(i))
				r.keys = append(r.keys, windowKey(scope, ev.GetId()))
				r.sums = append(r.sums, sum)
			}
			continue
		}
		p.encode(r, i, v, res, &counts)
	}
	if dd {
		p.claim(ctx, r, resp, &counts)
	}
	maxBytes := p.messageLimit()
	tooBig := func(i, size int) {
		r.st[i] = stRejected
		setFate(resp.Results[i], eventgrpcv1.ResultCode_RESULT_CODE_TOO_LARGE, errTooBig(i, size, maxBytes).Error())
		counts[reasonEventTooLarge]++
	}
	noRoute := func(key string) error { return errNoRoute(p.cfg.Exchange, key) }
	var queues func(string) []string
	if p.routes != nil {
		queues = p.routes.queues
	}
	r.cut(p.cfg.MaxMessageEvents, maxBytes, queues, tooBig, noRoute)

	if len(r.chunks) > 0 {
		if err := p.run(ctx, r); err != nil {
			if errors.Is(err, errAbandoned) {
				// The worker still finishes the publish and releases r;
				// the client hears that it gave up, so it may retry
				// (storage dedupes on event_id).
				sm.countRejected(&counts)
				return nil, fault.Transient(ctx.Err())
			}
			sm.countRejected(&counts)
			sm.refused(fault.KindOf(err).String()).Add(float64(len(evs)))
			r.failAll(err)
			p.settle(r)
			r.release()
			return nil, err
		}
	} else {
		p.settle(r)
	}
	defer p.finish(r)

	var firstErr error
	notDurable := 0
	for i := range evs {
		res := resp.Results[i]
		switch r.st[i] {
		case stDuplicate:
			res.Accepted = true // its fate was written by claim
			resp.Accepted++
		case stPublish:
			if err := r.failed[i]; err != nil {
				setFate(res, publishCode(err), publishReason(err))
				if firstErr == nil {
					firstErr = err
				}
				notDurable++
				continue
			}
			res.Accepted = true
			res.Code = eventgrpcv1.ResultCode_RESULT_CODE_ACCEPTED
			resp.Accepted++
		}
	}
	resp.Rejected = int32(len(evs)) - resp.Accepted
	if firstErr != nil && resp.Accepted == 0 {
		// Nothing was made durable because the broker failed: the caller
		// answers with the broker's status so clients retry the request;
		// its events count as refused, like any whole-request refusal.
		sm.countRejected(&counts)
		sm.refused(fault.KindOf(firstErr).String()).Add(float64(notDurable))
		return nil, firstErr
	}
	counts[reasonNotDurable] += int32(notDurable)
	sm.countRejected(&counts)
	p.countAccepted(sm, r)
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

// messageLimit is the largest message body: the configured one, or the
// broker's when smaller. Read for each request, since a broker learns its
// server's limit when it first connects, which may be after the pipeline
// is built.
func (p *Pipeline) messageLimit() int {
	if p.limits != nil {
		return min(p.maxBytes, p.limits.MaxMessageBytes())
	}
	return p.maxBytes
}

// encode adds the accepted event i to r, or rejects it when it cannot be
// encoded.
func (p *Pipeline) encode(r *request, i int, v verdict, res *eventgrpcv1.EventResult, counts *[numReasons]int32) {
	if err := r.add(i, v.key, v.typ); err != nil {
		r.st[i] = stRejected
		setFate(res, eventgrpcv1.ResultCode_RESULT_CODE_INTERNAL, "event cannot be encoded: "+err.Error())
		counts[reasonNoEventOf]++
	}
}

// countAccepted counts the accepted events per type, one Add per type.
func (p *Pipeline) countAccepted(sm *sourceMetrics, r *request) {
	for gi := range r.groups {
		g := &r.groups[gi]
		n := 0
		for _, i := range g.idx {
			if r.st[i] == stPublish && r.failed[i] == nil {
				n++
			}
		}
		if n > 0 {
			sm.accepted(g.typ).Add(float64(n))
		}
	}
	dups := 0
	for _, s := range r.st {
		if s == stDuplicate {
			dups++
		}
	}
	if dups > 0 {
		sm.duplicates.Add(float64(dups))
	}
}

// Admit refuses a new request before it is read when the requests in
// flight already hold the byte budget (fault.Throttled wrapping
// fault.ErrOverloaded, with a retry hint); nil otherwise. The servers call it
// first, so overload is refused before the body takes memory.
func (p *Pipeline) Admit() error {
	if n := p.inflight.Load(); n >= int64(p.cfg.MaxInflightBytes) {
		p.m.admitRefused.WithLabelValues(RefusedBudget).Inc()
		return fault.Throttled(fmt.Errorf("%w: the requests in flight hold %d bytes, the budget is %d (INGEST_MAX_INFLIGHT_BYTES)", fault.ErrOverloaded, n, p.cfg.MaxInflightBytes), time.Second)
	}
	return nil
}

// Reasons a request is refused or cut off before it was read in full: the
// values of the reason label of eventgrpc_ingest_requests_refused_unread_total.
const (
	RefusedBudget        = "budget"          // the byte budget cannot take its size
	RefusedTooLarge      = "too_large"       // its declared length is over the body limit
	RefusedTooManyEvents = "too_many_events" // the wire pre-scan found more than MaxEvents
	RefusedReadTimeout   = "read_timeout"    // it was not sent in full in time
)

// RefusalReasons lists the reasons, for the metric's zero values.
var RefusalReasons = []string{RefusedBudget, RefusedTooLarge, RefusedTooManyEvents, RefusedReadTimeout}

// Reserve takes n bytes of the in-flight byte budget for a request about
// to be read (its declared length, or the most it may be), before a byte
// of it is read; Release gives them back when the request is done. When
// the budget cannot take n it takes nothing, counts the refusal and
// returns fault.Throttled wrapping fault.ErrOverloaded with a retry hint. The
// pipeline's own bytes (Dispatch) and the reservations share the budget,
// so the requests being read and those being published together stay
// within INGEST_MAX_INFLIGHT_BYTES. A reservation of n <= 0 always
// succeeds. Safe for concurrent use.
func (p *Pipeline) Reserve(n int64) error {
	if n <= 0 {
		return nil
	}
	if t := p.inflight.Add(n); t > int64(p.cfg.MaxInflightBytes) {
		p.inflight.Add(-n)
		p.m.admitRefused.WithLabelValues(RefusedBudget).Inc()
		return fault.Throttled(fmt.Errorf("%w: a request of %d bytes does not fit: the requests in flight hold %d bytes, the budget is %d (INGEST_MAX_INFLIGHT_BYTES)", fault.ErrOverloaded, n, t-n, p.cfg.MaxInflightBytes), time.Second)
	}
	return nil
}

// Release gives back n bytes taken by Reserve.
func (p *Pipeline) Release(n int64) {
	if n > 0 {
		p.inflight.Add(-n)
	}
}

// Refused counts a request refused or cut off before it was read in full
// for reason (one of RefusalReasons).
func (p *Pipeline) Refused(reason string) { p.m.admitRefused.WithLabelValues(reason).Inc() }

// MaxEvents is the events one request may carry (MAX_EVENTS_PER_REQUEST),
// for the servers' pre-scan.
func (p *Pipeline) MaxEvents() int { return p.cfg.MaxEvents }

// errAbandoned: the caller's context ended while a worker held the request.
var errAbandoned = errors.New("the client gave up")

// run hands r to a worker and waits for it. The bounded queue is never
// waited on: a full queue, or a full byte budget, is an immediate, loud
// refusal.
func (p *Pipeline) run(ctx context.Context, r *request) error {
	// pre (the stable encodings the digests were taken of) is held until
	// r is released, like enc: it counts.
	r.bytes = len(r.enc) + len(r.header) + len(r.pre)
	if n := p.inflight.Add(int64(r.bytes)); n > int64(p.cfg.MaxInflightBytes) && n != int64(r.bytes) {
		p.inflight.Add(-int64(r.bytes))
		r.bytes = 0
		return fault.Throttled(fmt.Errorf("%w: the requests in flight hold over %d bytes (INGEST_MAX_INFLIGHT_BYTES)", fault.ErrOverloaded, p.cfg.MaxInflightBytes), time.Second)
	}
	if err := p.pool.Submit(r); err != nil {
		p.inflight.Add(-int64(r.bytes))
		r.bytes = 0
		if errors.Is(err, workpool.ErrFull) {
			return fault.Throttled(fmt.Errorf("%w: ingest queue is full: %d requests waiting for %d workers (EVENT_BUFFERED_CHANNEL_SIZE, EVENT_WORKER_POOL_SIZE)", fault.ErrOverloaded, p.pool.Cap(), p.cfg.Workers), time.Second)
		}
		return fault.Transient(fmt.Errorf("ingest is shutting down: %w", broker.ErrClosed))
	}
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		if r.state.CompareAndSwap(requestRunning, requestAbandoned) {
			return errAbandoned
		}
		<-r.done // the worker finished meanwhile
		return nil
	}
}

// publish is the worker: it publishes r's chunks, settles the dedupe
// claims, and hands r back (or releases it when the caller gave up).
func (p *Pipeline) publish(r *request) {
	if err := r.ctx.Err(); err != nil {
		r.failAll(fault.Transient(err))
	} else {
		p.coal.send(r)
	}
	p.settle(r) // before the reply: the reply follows the Commit
	if !r.state.CompareAndSwap(requestRunning, requestDone) {
		p.finish(r)
		return
	}
	close(r.done)
}

// finish gives back r's share of the byte budget and r itself.
func (p *Pipeline) finish(r *request) {
	p.inflight.Add(-int64(r.bytes))
	r.release()
}

// failAll fails every event of r that was to be published.
func (r *request) failAll(err error) {
	for i, s := range r.st {
		if s == stPublish && r.failed[i] == nil {
			r.failed[i] = err
		}
	}
}

// Shutdown stops taking requests and waits, within ctx, for the workers to
// finish the ones they hold. Safe to call twice.
func (p *Pipeline) Shutdown(ctx context.Context) error {
	if err := p.pool.Drain(ctx); err != nil {
		return fmt.Errorf("pipeline drain: %w", err)
	}
	return nil
}
