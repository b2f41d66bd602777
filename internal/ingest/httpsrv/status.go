package httpsrv

import (
	"context"
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
)

//go:embed static
var staticFiles embed.FS

// StatusConfig is what the status page reads.
type StatusConfig struct {
	Gatherer prometheus.Gatherer
	// Queues answers the queue table; nil when the broker cannot say.
	Queues broker.QueueStats
	// CatchAll is the queue whose consumption counts as stored (accounting).
	CatchAll string
	// DeadLetters is true when the dead-letter admin routes are mounted.
	DeadLetters bool
	Version     string
	// History, when set, answers GET /admin/history (its sampler is
	// started and stopped by the caller).
	History *History
	// Rejects, when set, are the rejected-event samples shown.
	Rejects *Rejects
}

// Status is the answer of GET /admin/status: the readiness, the process's
// cumulative counters (the page takes rates from successive answers) and
// the broker's queues.
type Status struct {
	Time        time.Time          `json:"time"`
	Version     string             `json:"version"`
	Ready       bool               `json:"ready"`
	Why         string             `json:"why,omitempty"`
	Ingest      []IngestCount      `json:"ingest"`
	Queues      []broker.QueueStat `json:"queues"`
	QueuesError string             `json:"queues_error,omitempty"`
	Tables      []TableCount       `json:"tables"`
	// Consumed counts each queue's settled messages by outcome (stored;
	// failed: retried or dead-lettered), since the process started.
	Consumed    map[string]map[string]float64 `json:"consumed"`
	Accounting  *Accounting                   `json:"accounting"`
	DeadLetters bool                          `json:"dead_letters"`
	Tail        float64                       `json:"tail_subscribers"`
	TailDropped float64                       `json:"tail_dropped"`
	// Disk is the filesystem of DATA_DIR (from the eventgrpc_data_dir_*
	// gauges); nil when not measured.
	Disk *DiskStatus `json:"disk"`
	// Session is true when the request came with a login session (the
	// page then offers to log out).
	Session bool `json:"session"`
	// Rejections are the last rejected events, newest first.
	Rejections []RejectSample `json:"rejections"`
}

// DiskStatus is the use of the filesystem that holds DATA_DIR, in bytes.
type DiskStatus struct {
	Path string  `json:"path"`
	Used float64 `json:"used"`
	Free float64 `json:"free"`
	Size float64 `json:"size"`
}

// IngestCount is one cumulative ingest counter: what (received, accepted,
// duplicate, rejected, refused) by source and, where the metric has them,
// type or reason.
type IngestCount struct {
	What   string  `json:"what"`
	Source string  `json:"source"`
	Type   string  `json:"type,omitempty"`
	Reason string  `json:"reason,omitempty"`
	Value  float64 `json:"value"`
}

// TableCount is one table's writes as the consumers saw them.
type TableCount struct {
	Table        string  `json:"table"`
	RowsStored   float64 `json:"rows_stored"`
	RowsFailed   float64 `json:"rows_failed"`
	Held         float64 `json:"held"` // writes that failed transiently or throttled (their batch held)
	Writes       float64 `json:"writes"`
	WriteSeconds float64 `json:"write_seconds"` // sum
	SinkErrors   float64 `json:"sink_errors"`   // writes that failed as a whole, any class
}

// MountStatus adds the status page (GET /, GET /static/…) and its data
// (GET /admin/status), behind the operator guard (loopback with a loopback
// Host, or ADMIN_TOKEN when QUERY_ALLOW_REMOTE).
func (s *Server) MountStatus(cfg StatusConfig) {
	sub := staticSub()
	files := http.FileServerFS(sub)
	s.admin.Handle("GET /{$}", console(redirectToLogin(s.Operator(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		http.ServeFileFS(w, r, sub, "index.html")
	})))))
	s.admin.Handle("GET /static/", console(s.Operator(http.StripPrefix("/static/", files))))
	s.admin.Handle("GET /admin/status", console(s.Operator(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, err := s.status(r.Context(), cfg)
		if err != nil {
			Error(w, http.StatusInternalServerError, err)
			return
		}
		st.Session = s.adminSession(r)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(st)
	}))))
	if cfg.History != nil {
		s.admin.Handle("GET /admin/history", s.Operator(cfg.History))
	}
}

// console sets the headers of every answer of the console: it may not be
// framed by any page (Content-Security-Policy frame-ancestors 'none', and
// X-Frame-Options DENY for browsers without CSP 2), so no other site can
// overlay it to make an operator click through it; its types are not
// sniffed.
func console(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "frame-ancestors 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

func staticSub() fs.FS {
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		panic(err) // the embedded tree has the directory
	}
	return sub
}

func (s *Server) status(ctx context.Context, cfg StatusConfig) (*Status, error) {
	st := &Status{Time: time.Now(), Version: cfg.Version, Ingest: []IngestCount{}, Queues: []broker.QueueStat{}, Tables: []TableCount{}, Consumed: map[string]map[string]float64{}, DeadLetters: cfg.DeadLetters, Rejections: []RejectSample{}}
	if cfg.Rejects != nil {
		st.Rejections = cfg.Rejects.List()
	}
	st.Ready, st.Why = s.state.Ready()
	acc, err := ComputeAccounting(cfg.Gatherer, cfg.CatchAll)
	if err != nil {
		return nil, err
	}
	st.Accounting = acc
	mfs, err := cfg.Gatherer.Gather()
	if err != nil {
		return nil, err
	}
	tables := map[string]*TableCount{}
	tab := func(name string) *TableCount {
		if tables[name] == nil {
			tables[name] = &TableCount{Table: name}
		}
		return tables[name]
	}
	eachSample(mfs, func(name string, m *dto.Metric, l map[string]string, v float64) {
		switch name {
		case "eventgrpc_ingest_events_received_total":
			st.Ingest = append(st.Ingest, IngestCount{What: "received", Source: l["source"], Value: v})
		case "eventgrpc_ingest_events_accepted_total":
			st.Ingest = append(st.Ingest, IngestCount{What: "accepted", Source: l["source"], Type: l["type"], Value: v})
		case "eventgrpc_ingest_events_duplicate_total":
			st.Ingest = append(st.Ingest, IngestCount{What: "duplicate", Source: l["source"], Value: v})
		case "eventgrpc_ingest_events_rejected_total":
			st.Ingest = append(st.Ingest, IngestCount{What: "rejected", Source: l["source"], Reason: l["reason"], Value: v})
		case "eventgrpc_ingest_events_refused_total":
			st.Ingest = append(st.Ingest, IngestCount{What: "refused", Source: l["source"], Reason: l["kind"], Value: v})
		case "eventgrpc_consume_messages_total":
			q := st.Consumed[l["queue"]]
			if q == nil {
				q = map[string]float64{}
				st.Consumed[l["queue"]] = q
			}
			q[l["outcome"]] += v
		case "eventgrpc_sink_rows_stored_total":
			tab(l["table"]).RowsStored += v
		case "eventgrpc_sink_rows_failed_total":
			tab(l["table"]).RowsFailed += v
		case "eventgrpc_sink_write_errors_total":
			t := tab(l["table"])
			t.SinkErrors += v
			if l["kind"] != fault.KindPermanent.String() {
				t.Held += v // the batch is held and tried again
			}
		case "eventgrpc_sink_write_seconds":
			t := tab(l["table"])
			t.Writes += float64(m.GetHistogram().GetSampleCount())
			t.WriteSeconds += m.GetHistogram().GetSampleSum()
		case "eventgrpc_tail_subscribers":
			st.Tail = m.GetGauge().GetValue()
		case "eventgrpc_tail_dropped_events_total":
			st.TailDropped = v
		case "eventgrpc_data_dir_bytes_used", "eventgrpc_data_dir_bytes_free", "eventgrpc_data_dir_bytes_size":
			if st.Disk == nil {
				st.Disk = &DiskStatus{Path: l["path"]}
			}
			g := m.GetGauge().GetValue()
			switch name {
			case "eventgrpc_data_dir_bytes_used":
				st.Disk.Used = g
			case "eventgrpc_data_dir_bytes_free":
				st.Disk.Free = g
			default:
				st.Disk.Size = g
			}
		}
	})
	for _, t := range tables {
		st.Tables = append(st.Tables, *t)
	}
	sort.Slice(st.Tables, func(i, j int) bool { return st.Tables[i].Table < st.Tables[j].Table })
	if cfg.Queues != nil {
		qs, err := cfg.Queues.Stats(ctx)
		if err != nil {
			st.QueuesError = err.Error()
		}
		if qs != nil {
			st.Queues = qs
		}
	} else {
		st.QueuesError = "this broker does not report queue statistics"
	}
	return st, nil
}
