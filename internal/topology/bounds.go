package topology

import "time"

// Storage bounds of a queue. Every queue holds at most its MaxBytes of
// message bodies and every error queue at most its DeadLetterMaxBytes, for
// at most DeadLetterMaxAge: a publish to a full queue is refused (RabbitMQ
// x-overflow: reject-publish answers it with a nack; the publisher counts
// it and the client gets 503/UNAVAILABLE) for that queue alone, and the
// oldest dead letters expire after the retention. Both brokers apply the
// same numbers.
const (
	DefaultQueueMaxBytes      int64 = 1 << 30   // 1 GiB per queue
	DefaultDeadLetterMaxBytes int64 = 256 << 20 // 256 MiB per error queue
	DefaultDeadLetterMaxAge         = 7 * 24 * time.Hour
)

// QueueMaxBytes is the byte bound of q (max_bytes in the YAML, else
// DefaultQueueMaxBytes).
func (q Queue) QueueMaxBytes() int64 {
	if q.MaxBytes > 0 {
		return q.MaxBytes
	}
	return DefaultQueueMaxBytes
}

// WithoutQueues returns a copy of t without the named queues (and their
// error queues), for queues nothing would consume: a message routed only
// to them is unroutable, which the publisher reports, rather than kept
// where it fills the store.
func (t *Topology) WithoutQueues(names ...string) *Topology {
	drop := map[string]bool{}
	for _, n := range names {
		drop[n] = true
	}
	c := *t
	c.Queues = nil
	for _, q := range t.Queues {
		if !drop[q.Name] {
			c.Queues = append(c.Queues, q)
		}
	}
	return &c
}
