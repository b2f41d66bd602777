package pipeline

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
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
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventgrpc_ingest_requests_total", Help: "Ingest requests by source.",
		}, []string{"source"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventgrpc_ingest_events_received_total", Help: "Events received, by source.",
		}, []string{"source"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventgrpc_ingest_events_accepted_total", Help: "Events made durable in the broker and acknowledged to the client.",
		}, []string{"source", "type"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventgrpc_ingest_events_rejected_total", Help: "Events rejected one by one, by reason.",
		}, []string{"source", "reason"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventgrpc_ingest_events_refused_total", Help: "Events of whole requests refused (overload, broker down), by error kind.",
		}, []string{"source", "kind"}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "eventgrpc_ingest_queue_depth", Help: "Requests waiting for a pipeline worker.",
		}),
		messages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventgrpc_publish_messages_total", Help: "Broker messages published and confirmed.",
		}),
		messageEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "eventgrpc_publish_message_events", Help: "Events per published broker message.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		publishSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "eventgrpc_publish_seconds", Help: "Time from publish to broker confirm.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		publishErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventgrpc_publish_errors_total", Help: "Failed publishes, by cause.",
		}, []string{"cause"}),
	}
	m.duplicates = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "eventgrpc_ingest_events_duplicate_total",
		Help: "Events acknowledged without publishing: their id was published within DEDUPE_WINDOW.",
	}, []string{"source"})
	m.dedupeErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "eventgrpc_ingest_dedupe_errors_total", Help: "Deduper calls that failed; those events were published without dedupe.",
	})
	if reg != nil {
		reg.MustRegister(m.duplicates, m.dedupeErrors)
		reg.MustRegister(m.requests, m.received, m.accepted, m.rejected, m.refused, m.queued,
			m.messages, m.messageEvents, m.publishSeconds, m.publishErrors)
	}
	return m
}

// classifyPublish maps broker errors to fault classes: overload is
// throttled, an unroutable message is permanent (a topology problem), the
// rest transient.
func classifyPublish(err error) error {
	switch {
	case errors.Is(err, broker.ErrOverloaded):
		return fault.Throttled(err, 0)
	case errors.Is(err, broker.ErrUnroutable):
		return fault.Permanent(err)
	case fault.KindOf(err) != fault.KindTransient:
		return err
	}
	return fault.Transient(err)
}
