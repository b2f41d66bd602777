package pipeline

import (
	"errors"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-grpc/event-grpc/internal/telemetry"
)

type metrics struct {
	requests       *prometheus.CounterVec
	received       *prometheus.CounterVec
	accepted       *prometheus.CounterVec
	rejected       *prometheus.CounterVec
	refused        *prometheus.CounterVec
	queued         prometheus.Gauge
	messages       prometheus.Counter
	messageEvents  prometheus.Histogram
	publishSeconds prometheus.Histogram
	publishErrors  *prometheus.CounterVec
	duplicates     *prometheus.CounterVec
	dedupeErrors   prometheus.Counter
	admitRefused   *prometheus.CounterVec

	sources sync.Map // Source → *sourceMetrics
}

// sourceMetrics are the counters of one source, resolved once, so a
// request counts with one Add per counter and type, never a label lookup
// per event.
type sourceMetrics struct {
	requests   prometheus.Counter
	received   prometheus.Counter
	duplicates prometheus.Counter
	m          *metrics
	src        string
	reasons    [numReasons]prometheus.Counter
	byType     sync.Map // type label → prometheus.Counter
	byLabel    sync.Map // "rejected"/"refused" label → prometheus.Counter
}

func (m *metrics) source(src Source) *sourceMetrics {
	if v, ok := m.sources.Load(src); ok {
		return v.(*sourceMetrics)
	}
	s := string(src)
	sm := &sourceMetrics{
		requests:   m.requests.WithLabelValues(s),
		received:   m.received.WithLabelValues(s),
		duplicates: m.duplicates.WithLabelValues(s),
		m:          m,
		src:        s,
	}
	for r := reasonNone + 1; r < numReasons; r++ {
		sm.reasons[r] = m.rejected.WithLabelValues(s, r.label())
	}
	v, _ := m.sources.LoadOrStore(src, sm)
	return v.(*sourceMetrics)
}

// countRejected adds a request's rejections, one Add per reason present.
func (sm *sourceMetrics) countRejected(c *[numReasons]int32) {
	for r, n := range c {
		if n > 0 && reason(r) != reasonNone {
			sm.reasons[r].Add(float64(n))
		}
	}
}

// accepted is the accepted counter of a type label (bounded: the proto's
// type names, custom names folded into CustomEvent).
func (sm *sourceMetrics) accepted(typ string) prometheus.Counter {
	return sm.counter(&sm.byType, sm.m.accepted, typ)
}

// rejected is the counter of a request-level rejection reason.
func (sm *sourceMetrics) rejected(label string) prometheus.Counter {
	return sm.m.rejected.WithLabelValues(sm.src, label)
}

// refused is the counter of whole requests refused, by error kind.
func (sm *sourceMetrics) refused(kind string) prometheus.Counter {
	return sm.counter(&sm.byLabel, sm.m.refused, kind)
}

// counter is the counter of vec for this source and label, looked up in
// vec once and then kept in cache.
func (sm *sourceMetrics) counter(cache *sync.Map, vec *prometheus.CounterVec, label string) prometheus.Counter {
	if c, ok := cache.Load(label); ok {
		return c.(prometheus.Counter)
	}
	c := vec.WithLabelValues(sm.src, label)
	cache.Store(label, c)
	return c
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests:       telemetry.NewCounterVec("eventgrpc_ingest_requests_total", "Ingest requests by source.", "source"),
		received:       telemetry.NewCounterVec("eventgrpc_ingest_events_received_total", "Events received, by source.", "source"),
		accepted:       telemetry.NewCounterVec("eventgrpc_ingest_events_accepted_total", "Events made durable in the broker and acknowledged to the client.", "source", "type"),
		rejected:       telemetry.NewCounterVec("eventgrpc_ingest_events_rejected_total", "Events rejected one by one, by reason.", "source", "reason"),
		refused:        telemetry.NewCounterVec("eventgrpc_ingest_events_refused_total", "Events of whole requests refused (overload, broker down), by error kind.", "source", "kind"),
		queued:         telemetry.NewGauge("eventgrpc_ingest_queue_depth", "Requests waiting for a pipeline worker."),
		messages:       telemetry.NewCounter("eventgrpc_publish_messages_total", "Broker messages published and confirmed."),
		messageEvents:  telemetry.NewHistogram("eventgrpc_publish_message_events", "Events per published broker message.", prometheus.ExponentialBuckets(1, 2, 12)),
		publishSeconds: telemetry.NewHistogram("eventgrpc_publish_seconds", "Time from publish to broker confirm.", prometheus.ExponentialBuckets(0.0005, 2, 14)),
		publishErrors:  telemetry.NewCounterVec("eventgrpc_publish_errors_total", "Failed publishes, by cause.", "cause"),
	}
	m.duplicates = telemetry.NewCounterVec("eventgrpc_ingest_events_duplicate_total", "Events acknowledged without publishing: their id was published within DEDUPE_WINDOW.", "source")
	m.dedupeErrors = telemetry.NewCounter("eventgrpc_ingest_dedupe_errors_total", "Deduper calls that failed; those events were published without dedupe.")
	m.admitRefused = telemetry.NewCounterVec("eventgrpc_ingest_requests_refused_unread_total", "Requests refused or cut off before their body was read in full, by reason: budget (the requests in flight held INGEST_MAX_INFLIGHT_BYTES), too_large (a declared length over the body limit), too_many_events (over MAX_EVENTS_PER_REQUEST, found by the wire pre-scan), read_timeout (not sent in full within INGEST_READ_TIMEOUT).", "reason")
	if err := errors.Join(
		telemetry.Register(reg, &m.requests, &m.received, &m.accepted, &m.rejected, &m.refused, &m.duplicates, &m.admitRefused, &m.publishErrors),
		telemetry.Register(reg, &m.messages, &m.dedupeErrors),
		telemetry.Register(reg, &m.queued),
		telemetry.Register(reg, &m.messageEvents, &m.publishSeconds),
	); err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	for _, r := range RefusalReasons {
		m.admitRefused.WithLabelValues(r)
	}
	return m, nil
}
