package rabbitmq

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/telemetry"
)

// metrics are the broker's Prometheus collectors. They exist (unregistered)
// when Config.Registerer is nil, so the code never checks for nil.
type metrics struct {
	published      prometheus.Counter
	publishErrors  *prometheus.CounterVec // kind
	returned       prometheus.Counter
	confirmLatency prometheus.Histogram
	consumed       *prometheus.CounterVec // queue
	acked          *prometheus.CounterVec // queue
	redeclared     prometheus.Counter
	replayed       prometheus.Counter
	reconnects     prometheus.Counter
	declareErrors  prometheus.Counter
	ready          prometheus.Gauge
	nackReopens    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const prefix = "eventgrpc_rabbitmq_"
	counter := func(name, help string) prometheus.Counter {
		return telemetry.NewCounter(prefix+name, help)
	}
	vec := func(name, help, label string) *prometheus.CounterVec {
		return telemetry.NewCounterVec(prefix+name, help, label)
	}
	m := &metrics{
		published:      counter("published_total", "Messages published and confirmed by the broker."),
		publishErrors:  vec("publish_errors_total", "Messages not accepted, by kind (unavailable, unroutable, overloaded, nacked, closed, canceled, invalid).", "kind"),
		returned:       counter("returned_total", "Mandatory messages the broker returned because no queue was bound."),
		confirmLatency: telemetry.NewHistogram(prefix+"confirm_latency_seconds", "Time from sending a message to its publisher confirm.", prometheus.ExponentialBuckets(0.0002, 2.5, 12)),
		consumed:       vec("consumed_total", "Messages delivered to consumers, by queue.", "queue"),
		acked:          vec("acked_total", "Messages acked, by queue (including those whose copies were republished).", "queue"),
		redeclared:     counter("queues_redeclared_total", "Queues found gone (deleted under the running service) and declared again by a consumer."),
		replayed:       counter("replayed_total", "Dead letters moved back to their original exchange."),
		reconnects:     counter("reconnects_total", "Connections re-established after a loss."),
		declareErrors:  counter("declare_errors_total", "Topology declarations the broker refused (for example a queue with other arguments)."),
		ready:          telemetry.NewGauge(prefix+"ready", "1 while connected to the broker, else 0."),
		nackReopens:    counter("channel_reopens_total", "Publisher channels closed and reopened after a run of nacks (a quorum queue's leader election)."),
	}
	if err := errors.Join(
		telemetry.Register(reg, &m.published, &m.returned, &m.redeclared, &m.replayed, &m.reconnects, &m.declareErrors, &m.nackReopens),
		telemetry.Register(reg, &m.publishErrors, &m.consumed, &m.acked),
		telemetry.Register(reg, &m.confirmLatency),
		telemetry.Register(reg, &m.ready),
	); err != nil {
		return nil, fmt.Errorf("rabbitmq: %w", err)
	}
	return m, nil
}

// errorKind names the class of a publish error for the metric: a
// negative confirm is RabbitMQ's own ("nacked"), the rest are the broker
// contract's kinds.
func errorKind(err error) string {
	if errors.Is(err, errNacked) {
		return "nacked"
	}
	return broker.ErrorKind(err)
}
