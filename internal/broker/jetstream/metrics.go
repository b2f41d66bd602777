package jetstream

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-grpc/event-grpc/internal/telemetry"
)

// metrics are the backend's counters. With a nil Registerer they count
// into collectors nobody reads.
type metrics struct {
	published      *prometheus.CounterVec // exchange
	publishedBytes *prometheus.CounterVec // exchange
	publishErrors  *prometheus.CounterVec // kind
	consumed       *prometheus.CounterVec // queue
	acked          *prometheus.CounterVec // queue
	ackErrors      *prometheus.CounterVec // queue
	redeclared     *prometheus.CounterVec // queue
	replayed       *prometheus.CounterVec // queue
	// duplicates counts publishes the stream acknowledged as duplicates
	// (PubAck.Duplicate): the same content, stored already.
	duplicates prometheus.Counter
	// publishRetries counts messages sent again while a stream had no
	// leader (Config.PublishRetryFor).
	publishRetries prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	vec := func(name, help, label string) *prometheus.CounterVec {
		return telemetry.NewCounterVec("eventgrpc_jetstream_"+name, help, label)
	}
	m := &metrics{
		published:      vec("published_messages_total", "Messages the stream acknowledged, by exchange.", "exchange"),
		publishedBytes: vec("published_bytes_total", "Body bytes of acknowledged messages, by exchange.", "exchange"),
		publishErrors:  vec("publish_errors_total", "Messages not accepted, by kind (unroutable, unavailable, overloaded, closed, timeout, other).", "kind"),
		consumed:       vec("consumed_messages_total", "Messages fetched by consumers, by queue.", "queue"),
		acked:          vec("acked_messages_total", "Messages acknowledged after their handler finished, by queue.", "queue"),
		ackErrors:      vec("ack_errors_total", "Acks that could not be sent (the message will be delivered again), by queue.", "queue"),
		redeclared:     vec("consumers_redeclared_total", "Durable consumers (or the stream) found gone under the running service and declared again, by queue.", "queue"),
		replayed:       vec("replayed_messages_total", "Dead letters moved back to their queue, by queue.", "queue"),
	}
	m.duplicates = telemetry.NewCounter("eventgrpc_jetstream_publish_duplicates_total", "Publishes the stream acknowledged as duplicates of a message it holds (same content within the duplicate window).")
	m.publishRetries = telemetry.NewCounter("eventgrpc_jetstream_publish_retries_total", "Messages sent again because no stream leader acknowledged them (a leader election on a cluster).")
	// A broker made again on the same registry (after a restart) counts
	// on in the collectors already there.
	if err := errors.Join(
		telemetry.Register(reg, &m.duplicates, &m.publishRetries),
		telemetry.Register(reg, &m.published, &m.publishedBytes, &m.publishErrors, &m.consumed, &m.acked,
			&m.ackErrors, &m.redeclared, &m.replayed),
	); err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return m, nil
}
