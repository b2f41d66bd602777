package httpsrv

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Accounting is the answer of GET /admin/accounting: what happened to the
// events since this process started, per source and per type, and whether
// the books balance.
//
//	received = accepted + duplicate + rejected (rejected includes whole-request refusals;
//	                                            duplicate: answered OK from the dedupe window, not published again)
//	accepted = stored + dead_lettered + in_flight
//
// stored counts events of the catch-all queue (the one bound with '#' to
// the ingest exchange) whose rows were committed; a redelivered batch is
// committed — and counted — again, so stored may exceed accepted by the
// redeliveries (storage dedupes them; the tables do not double).
type Accounting struct {
	Queue   string                    `json:"queue"`
	Sources map[string]*SourceAccount `json:"sources"`
	Types   map[string]*TypeAccount   `json:"types"`
	Totals  Totals                    `json:"totals"`
}

// SourceAccount counts one ingest source (grpc, http, a webhook provider).
type SourceAccount struct {
	Received  float64            `json:"received"`
	Accepted  float64            `json:"accepted"`
	Duplicate float64            `json:"duplicate"`
	Rejected  map[string]float64 `json:"rejected"` // by reason
}

// TypeAccount counts one event type.
type TypeAccount struct {
	Accepted     float64 `json:"accepted"`
	Published    float64 `json:"-"`
	Stored       float64 `json:"stored"`
	Retried      float64 `json:"retried"`
	DeadLettered float64 `json:"dead_lettered"`
}

// Totals sums the books and checks the identities.
type Totals struct {
	Received          float64 `json:"received"`
	Accepted          float64 `json:"accepted"`
	Duplicate         float64 `json:"duplicate"`
	Rejected          float64 `json:"rejected"`
	Stored            float64 `json:"stored"`
	Retried           float64 `json:"retried"`
	DeadLettered      float64 `json:"dead_lettered"`
	InFlight          float64 `json:"in_flight"`
	ReceivedBalances  bool    `json:"received_equals_accepted_plus_duplicate_plus_rejected"`
	AcceptedAccounted bool    `json:"accepted_equals_stored_plus_dead_lettered_plus_in_flight"`
}

// MountAccounting adds GET /admin/accounting (behind Operator; see
// QueryRemote), computed from the process's metrics. queue is the
// catch-all queue whose consumption counts as "stored".
func (s *Server) MountAccounting(g prometheus.Gatherer, queue string) {
	s.admin.Handle("GET /admin/accounting", s.Operator(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		acc, err := ComputeAccounting(g, queue)
		if err != nil {
			Error(w, http.StatusInternalServerError, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(acc)
	})))
}

// ComputeAccounting reads the counters from g.
func ComputeAccounting(g prometheus.Gatherer, queue string) (*Accounting, error) {
	if g == nil {
		return nil, errors.New("no metrics registry")
	}
	mfs, err := g.Gather()
	if err != nil {
		return nil, err
	}
	a := &Accounting{Queue: queue, Sources: map[string]*SourceAccount{}, Types: map[string]*TypeAccount{}}
	src := func(name string) *SourceAccount {
		if a.Sources[name] == nil {
			a.Sources[name] = &SourceAccount{Rejected: map[string]float64{}}
		}
		return a.Sources[name]
	}
	typ := func(name string) *TypeAccount {
		if a.Types[name] == nil {
			a.Types[name] = &TypeAccount{}
		}
		return a.Types[name]
	}
	eachSample(mfs, func(name string, _ *dto.Metric, l map[string]string, v float64) {
		switch name {
		case "eventgrpc_ingest_events_received_total":
			src(l["source"]).Received += v
		case "eventgrpc_ingest_events_accepted_total":
			src(l["source"]).Accepted += v
			typ(l["type"]).Accepted += v
		case "eventgrpc_ingest_events_duplicate_total":
			src(l["source"]).Duplicate += v
		case "eventgrpc_ingest_events_rejected_total":
			src(l["source"]).Rejected[l["reason"]] += v
		case "eventgrpc_ingest_events_refused_total":
			src(l["source"]).Rejected["refused_"+l["kind"]] += v
		case "eventgrpc_consume_events_total":
			if l["queue"] != queue {
				return
			}
			t := typ(l["type"])
			switch l["outcome"] {
			case "stored":
				t.Stored += v
			case "retried":
				t.Retried += v
			case "dead_lettered":
				t.DeadLettered += v
			}
		}
	})
	for _, sa := range a.Sources {
		a.Totals.Received += sa.Received
		a.Totals.Accepted += sa.Accepted
		a.Totals.Duplicate += sa.Duplicate
		for _, n := range sa.Rejected {
			a.Totals.Rejected += n
		}
	}
	for _, ta := range a.Types {
		a.Totals.Stored += ta.Stored
		a.Totals.Retried += ta.Retried
		a.Totals.DeadLettered += ta.DeadLettered
	}
	a.Totals.InFlight = max(0, a.Totals.Accepted-a.Totals.Stored-a.Totals.DeadLettered)
	a.Totals.ReceivedBalances = a.Totals.Received == a.Totals.Accepted+a.Totals.Duplicate+a.Totals.Rejected
	a.Totals.AcceptedAccounted = a.Totals.Accepted == a.Totals.Stored+a.Totals.DeadLettered+a.Totals.InFlight
	return a, nil
}

// eachSample calls fn with each sample of mfs: its family's name, the
// sample, its labels and its counter value (0 for other kinds).
func eachSample(mfs []*dto.MetricFamily, fn func(name string, m *dto.Metric, l map[string]string, v float64)) {
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			fn(mf.GetName(), m, labels(m), m.GetCounter().GetValue())
		}
	}
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, lp := range m.GetLabel() {
		out[lp.GetName()] = lp.GetValue()
	}
	return out
}
