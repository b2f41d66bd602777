package telemetry

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric conventions, for every collector of the service:
//
//   - Names are written out whole as eventgrpc_<subsystem>_<name>[_<unit>]
//     (no Namespace/Subsystem fields): counters end in _total, durations
//     are _seconds, sizes _bytes, so that a grep for a name finds its
//     definition. A few older gauges keep names that dashboards and alerts
//     use (eventgrpc_data_dir_bytes_used, eventgrpc_consume_budget_bytes_in_use).
//   - Labels are bounded sets (queue, table, sink, kind, reason, outcome);
//     never an event id, a client id unless METRICS_CLIENT_LABELS says so.
//   - Collectors are registered with Register on a registry injected by
//     the caller (main builds one; tests build their own), never a global.
//   - A part's write path is observed once, where it is wrapped (the sink
//     decorator, sink.Observer), not again by its callers.

// Register registers each collector *c on reg, the one way the service
// registers its metrics:
//
//   - reg nil: nothing is registered; the collectors work unexported (tests
//     and tools that do not serve /metrics).
//   - a collector equal to one already registered (same name, labels and
//     help): *c is replaced by the registered collector, so two instances of
//     a part on one registry (two sinks of one kind, two servers in a test)
//     count into the same series instead of failing. A collector read from a
//     function (a GaugeFunc, a custom Collector) stays the first one's.
//   - any other refusal (the name taken with other labels, help or type) is
//     returned, naming the metric, for the caller to fail its construction.
//
// Every collector is tried; the errors are joined.
func Register[C prometheus.Collector](reg prometheus.Registerer, cs ...*C) error {
	if reg == nil {
		return nil
	}
	var errs []error
	for _, c := range cs {
		if err := reg.Register(*c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				if existing, ok := are.ExistingCollector.(C); ok {
					*c = existing
					continue
				}
				err = fmt.Errorf("registered before as %T", are.ExistingCollector)
			}
			errs = append(errs, fmt.Errorf("registering metric %s: %w", describe(*c), err))
		}
	}
	return errors.Join(errs...)
}

// describe names a collector's first metric for an error.
func describe(c prometheus.Collector) string {
	ch := make(chan *prometheus.Desc, 16)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	name := "(unnamed)"
	first := true
	for d := range ch {
		if first {
			name, first = d.String(), false
		}
	}
	return name
}
