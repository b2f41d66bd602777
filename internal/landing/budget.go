package landing

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"

	"github.com/event-grpc/event-grpc/internal/sink"
	"github.com/event-grpc/event-grpc/internal/telemetry"
)

// DefaultSinkBytes is the default bound, per sink, on the message bytes
// being decoded and written at once: four batches of the default size.
const DefaultSinkBytes = 16 << 20

// Budget bounds, per sink, the message bytes whose rows are being built
// and written at once. A batch's decoded rows take several times its
// message bytes; without a bound every worker of every queue that feeds a
// slow sink (the embedded store has one writer) holds its decoded batch
// while it waits, and the process's memory follows the number of workers.
// A handler takes its batch's bytes from the budget of each sink it
// writes to before decoding and gives them back when its writes return,
// so a held batch (transient failure, backing off) holds no budget, and a
// slow sink slows only the queues that write to it. Safe for concurrent
// use.
//
// A sink that gathers the rows of many batches into one insert
// (sink.Submitter) keeps their bytes taken until that insert ends; when a
// handler finds the budget spent, such a sink (a sink.Flusher) is asked
// to insert what it holds at once.
type Budget struct {
	limit int64

	mu    sync.Mutex
	sinks map[sink.Sink]*sinkBudget

	inUse *prometheus.GaugeVec   // sink
	wait  *prometheus.CounterVec // sink
}

type sinkBudget struct {
	order int // acquisition order: by first sight, so no two handlers wait on each other
	sem   *semaphore.Weighted
	flush func() // the sink's sink.Flusher: asked to write what it holds before waiting (nil: none)
	inUse prometheus.Gauge
	wait  prometheus.Counter
}

// NewBudget returns a budget of limit bytes per sink (limit <= 0:
// DefaultSinkBytes), its metrics registered with reg (nil: unregistered).
func NewBudget(limit int64, reg prometheus.Registerer) (*Budget, error) {
	if limit <= 0 {
		limit = DefaultSinkBytes
	}
	b := &Budget{
		limit: limit,
		sinks: map[sink.Sink]*sinkBudget{},
		inUse: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "eventgrpc_consume_budget_bytes_in_use",
			Help: "Message bytes whose rows are being built or written, by sink (bounded by LANDING_MAX_INFLIGHT_BYTES per sink)."}, []string{"sink"}),
		wait: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eventgrpc_consume_budget_wait_seconds_total",
			Help: "Time consumers waited for a sink's byte budget before decoding a batch (the sink is the bottleneck), by sink."}, []string{"sink"}),
	}
	if err := errors.Join(telemetry.Register(reg, &b.inUse), telemetry.Register(reg, &b.wait)); err != nil {
		return nil, fmt.Errorf("consume: %w", err)
	}
	return b, nil
}

// of returns the budgets of sinks, in acquisition order, each once.
func (b *Budget) of(sinks []sink.Sink) []*sinkBudget {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*sinkBudget
	for _, s := range sinks {
		sb, ok := b.sinks[s]
		if !ok {
			name := sinkName(s)
			sb = &sinkBudget{order: len(b.sinks), sem: semaphore.NewWeighted(b.limit),
				inUse: b.inUse.WithLabelValues(name), wait: b.wait.WithLabelValues(name)}
			if f, ok := s.(sink.Flusher); ok {
				sb.flush = f.Flush
			}
			b.sinks[s] = sb
		}
		if !slices.Contains(out, sb) {
			out = append(out, sb)
		}
	}
	slices.SortFunc(out, func(x, y *sinkBudget) int { return x.order - y.order })
	return out
}

// take waits until n bytes (at most the limit) are free in each of sbs,
// takes them and returns the function that gives them back. It waits
// regardless of ctx's end: what it waits for are writes that end by their
// own timeouts.
func (b *Budget) take(sbs []*sinkBudget, n int64) (release func()) {
	n = min(max(n, 1), b.limit)
	for _, sb := range sbs {
		if !sb.sem.TryAcquire(n) {
			if sb.flush != nil {
				// The bytes wait in the sink's gathered rows: write them
				// now rather than when their interval ends.
				sb.flush()
			}
			start := time.Now()
			_ = sb.sem.Acquire(context.Background(), n) // cannot fail without a deadline
			sb.wait.Add(time.Since(start).Seconds())
		}
		sb.inUse.Add(float64(n))
	}
	return func() {
		for _, sb := range sbs {
			sb.sem.Release(n)
			sb.inUse.Sub(float64(n))
		}
	}
}

// sinkName is a sink's label: its Name if it has one, else its package.
func sinkName(s sink.Sink) string {
	if n, ok := s.(interface{ Name() string }); ok {
		return n.Name()
	}
	t := strings.TrimPrefix(fmt.Sprintf("%T", s), "*")
	if pkg, _, ok := strings.Cut(t, "."); ok {
		return pkg
	}
	return t
}
