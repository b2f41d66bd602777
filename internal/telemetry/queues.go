package telemetry

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-grpc/event-grpc/internal/broker"
)

// QueueStatsCache shares one broker.QueueStats answer between the status
// page and the metrics scrape for MaxAge, so neither multiplies the calls
// the broker gets. Safe for concurrent use.
type QueueStatsCache struct {
	src    broker.QueueStats
	maxAge time.Duration
	mu     sync.Mutex
	at     time.Time
	last   []broker.QueueStat
	err    error
}

// NewQueueStatsCache caches src's answers for maxAge.
func NewQueueStatsCache(src broker.QueueStats, maxAge time.Duration) *QueueStatsCache {
	return &QueueStatsCache{src: src, maxAge: maxAge}
}

// Stats returns the cached answer, asking the broker when it is older than
// MaxAge.
func (c *QueueStatsCache) Stats(ctx context.Context) ([]broker.QueueStat, error) {
	return c.StatsWithin(ctx, c.maxAge)
}

// StatsWithin is Stats accepting a cached answer up to maxAge old (at
// least the cache's own MaxAge): the metrics collector, which the status
// history gathers every second, takes answers up to ScrapeMaxAge old so
// that the broker is not asked every second.
func (c *QueueStatsCache) StatsWithin(ctx context.Context, maxAge time.Duration) ([]broker.QueueStat, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) < max(maxAge, c.maxAge) {
		return c.last, c.err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c.last, c.err = c.src.Stats(ctx)
	c.at = time.Now()
	return c.last, c.err
}

var (
	queueMessagesDesc = prometheus.NewDesc("eventgrpc_queue_messages",
		"Messages in a broker queue (waiting or being handled), by queue; error queues hold dead letters.", []string{"queue", "error_queue"}, nil)
	queueConsumersDesc = prometheus.NewDesc("eventgrpc_queue_consumers",
		"Consumers of a broker queue (JetStream: pull requests waiting).", []string{"queue", "error_queue"}, nil)
	queueOldestDesc = prometheus.NewDesc("eventgrpc_queue_oldest_age_seconds",
		"Age of the oldest message of a queue (0 when empty); absent when the broker cannot tell.", []string{"queue", "error_queue"}, nil)
	queueBytesDesc = prometheus.NewDesc("eventgrpc_queue_bytes",
		"Bytes of message bodies a queue holds; absent when the broker cannot tell (RabbitMQ over AMQP).", []string{"queue", "error_queue"}, nil)
	queueMaxBytesDesc = prometheus.NewDesc("eventgrpc_queue_max_bytes",
		"A queue's byte bound: past it publishes are refused (work queues) or the oldest dead letters dropped (error queues).", []string{"queue", "error_queue"}, nil)
	queueStatsUpDesc = prometheus.NewDesc("eventgrpc_queue_stats_up",
		"1 when the broker answered the queue statistics at the last scrape, else 0.", nil, nil)
)

// ScrapeMaxAge is how old a QueueStatsCache answer the collector accepts.
const ScrapeMaxAge = 10 * time.Second

// QueueCollector exports the queue gauges from a QueueStats source at
// scrape time (from a QueueStatsCache, an answer up to ScrapeMaxAge old).
type QueueCollector struct{ src broker.QueueStats }

// NewQueueCollector returns the collector; register it on the registry.
func NewQueueCollector(src broker.QueueStats) *QueueCollector { return &QueueCollector{src} }

// Describe implements prometheus.Collector.
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueMessagesDesc
	ch <- queueConsumersDesc
	ch <- queueOldestDesc
	ch <- queueBytesDesc
	ch <- queueMaxBytesDesc
	ch <- queueStatsUpDesc
}

// Collect implements prometheus.Collector.
func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	var (
		stats []broker.QueueStat
		err   error
	)
	if cache, ok := c.src.(*QueueStatsCache); ok {
		stats, err = cache.StatsWithin(context.Background(), ScrapeMaxAge)
	} else {
		stats, err = c.src.Stats(context.Background())
	}
	up := 1.0
	if err != nil {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(queueStatsUpDesc, prometheus.GaugeValue, up)
	for _, s := range stats {
		eq := "false"
		if s.ErrorQueue {
			eq = "true"
		}
		if s.Messages >= 0 {
			ch <- prometheus.MustNewConstMetric(queueMessagesDesc, prometheus.GaugeValue, float64(s.Messages), s.Queue, eq)
		}
		ch <- prometheus.MustNewConstMetric(queueConsumersDesc, prometheus.GaugeValue, float64(s.Consumers), s.Queue, eq)
		if s.OldestAge >= 0 {
			ch <- prometheus.MustNewConstMetric(queueOldestDesc, prometheus.GaugeValue, s.OldestAge.Seconds(), s.Queue, eq)
		}
		if s.Bytes >= 0 {
			ch <- prometheus.MustNewConstMetric(queueBytesDesc, prometheus.GaugeValue, float64(s.Bytes), s.Queue, eq)
		}
		if s.MaxBytes > 0 {
			ch <- prometheus.MustNewConstMetric(queueMaxBytesDesc, prometheus.GaugeValue, float64(s.MaxBytes), s.Queue, eq)
		}
	}
}

// NewReadyGauge exports eventgrpc_ready: 1 when ready() says so, else 0.
func NewReadyGauge(ready func() (bool, string)) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "eventgrpc_ready", Help: "1 when the service is ready for traffic (heartbeat on, dependencies reachable), else 0.",
	}, func() float64 {
		if ok, _ := ready(); ok {
			return 1
		}
		return 0
	})
}
