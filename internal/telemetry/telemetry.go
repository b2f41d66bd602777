package telemetry

import (
	"io"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/event-grpc/event-grpc/internal/buildinfo"
)

// NewRegistry returns a registry with the Go runtime and process
// collectors and eventgrpc_build_info.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	cs := []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), NewBuildInfo(buildinfo.Get())}
	for i := range cs {
		if err := Register(reg, &cs[i]); err != nil {
			panic(err) // three distinct collectors on a new registry: never
		}
	}
	return reg
}

// NewBuildInfo is eventgrpc_build_info{version,revision,goversion} 1: which
// build is running, for joins in queries and dashboards.
func NewBuildInfo(in buildinfo.Info) prometheus.Collector {
	rev := in.Revision
	if rev != "" && in.Modified {
		rev += "-dirty"
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "eventgrpc_build_info",
		Help:        "Always 1; the labels say which build is running (version, VCS revision, Go version).",
		ConstLabels: prometheus.Labels{"version": in.Short(), "revision": rev, "goversion": in.GoVersion},
	})
	g.Set(1)
	return g
}

// NewLogger returns a text or JSON logger at the given level.
func NewLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	switch level {
	case "debug":
		lv = slog.LevelDebug
	case "warn":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
