package httpsrv

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// HistorySeries are the series the history keeps, in this order: the
// ingest and storage rates (events per second) and two gauges, the oldest
// work-queue message's age in seconds (lag) and the dead letters waiting
// (dead).
var HistorySeries = [...]string{"received", "accepted", "rejected", "refused", "duplicate", "stored", "lag", "dead"}

const (
	nSeries  = len(HistorySeries)
	nCounter = 6 // the first nCounter series are rates of counters; the rest gauges
	// HistorySeconds and HistoryMinutes are the rings' lengths: an hour
	// of per-second points and a day of per-minute points.
	HistorySeconds = 3600
	HistoryMinutes = 1440
)

// slot is one point: at (unix seconds / step) and, for the counter series,
// the sum of their increases over the sampling intervals that began in it,
// secs seconds long; for the gauges, the last
// value (per-second ring) or the largest (per-minute ring).
type slot struct {
	at   int64
	secs float64
	v    [nSeries]float64
}

// ring is a fixed array of slots indexed by at modulo its length; a slot
// whose at is not the one asked for is a gap (no sample then).
type ring struct {
	step  int64 // seconds
	slots []slot
}

func (r *ring) slot(at int64) *slot {
	s := &r.slots[int(at%int64(len(r.slots)))]
	if s.at != at {
		*s = slot{at: at}
	}
	return s
}

// History keeps the status page's rates server-side, so a page opened
// after a burst shows it: one goroutine samples the process's counters
// every second into a ring of HistorySeconds per-second points and one of
// HistoryMinutes per-minute points. Its memory is fixed (two arrays of
// slots, about 360 KiB). Start starts the sampler, Shutdown stops it.
type History struct {
	g        prometheus.Gatherer
	catchAll string
	now      func() time.Time
	tick     time.Duration

	mu     sync.Mutex
	sec    ring
	min    ring
	last   [nCounter]float64
	lastAt time.Time
	primed bool
	err    error // of the last gather

	startOnce, stopOnce sync.Once
	stop, done          chan struct{}
}

// NewHistory reads its counters from g; catchAll names the queue whose
// stored events count as stored (as the accounting does).
func NewHistory(g prometheus.Gatherer, catchAll string) *History {
	return &History{g: g, catchAll: catchAll, now: time.Now, tick: time.Second,
		sec:  ring{step: 1, slots: make([]slot, HistorySeconds)},
		min:  ring{step: 60, slots: make([]slot, HistoryMinutes)},
		stop: make(chan struct{}), done: make(chan struct{})}
}

// Start samples once now and then every second until Shutdown.
func (h *History) Start() {
	h.startOnce.Do(func() {
		go func() {
			defer close(h.done)
			t := time.NewTicker(h.tick)
			defer t.Stop()
			h.Sample()
			for {
				select {
				case <-h.stop:
					return
				case <-t.C:
					h.Sample()
				}
			}
		}()
	})
}

// Shutdown stops the sampler and waits for it within ctx. Safe to call
// twice and without Start.
func (h *History) Shutdown(ctx context.Context) error {
	h.stopOnce.Do(func() { close(h.stop) })
	started := true
	h.startOnce.Do(func() { started = false; close(h.done) })
	if !started {
		return nil
	}
	select {
	case <-h.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// read gathers the counters' totals and the gauges now.
func (h *History) read() ([nSeries]float64, error) {
	var v [nSeries]float64
	mfs, err := h.g.Gather()
	if err != nil {
		return v, err
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "eventgrpc_ingest_events_received_total":
				v[0] += m.GetCounter().GetValue()
			case "eventgrpc_ingest_events_accepted_total":
				v[1] += m.GetCounter().GetValue()
			case "eventgrpc_ingest_events_rejected_total":
				v[2] += m.GetCounter().GetValue()
			case "eventgrpc_ingest_events_refused_total":
				v[3] += m.GetCounter().GetValue()
			case "eventgrpc_ingest_events_duplicate_total":
				v[4] += m.GetCounter().GetValue()
			case "eventgrpc_consume_events_total":
				l := labels(m)
				if l["queue"] == h.catchAll && l["outcome"] == "stored" {
					v[5] += m.GetCounter().GetValue()
				}
			case "eventgrpc_queue_oldest_age_seconds":
				if labels(m)["error_queue"] == "false" {
					v[6] = max(v[6], m.GetGauge().GetValue())
				}
			case "eventgrpc_queue_messages":
				if labels(m)["error_queue"] == "true" {
					v[7] += max(0, m.GetGauge().GetValue())
				}
			}
		}
	}
	return v, nil
}

// Sample takes one point now. The first sample only sets the baseline of
// the counters.
func (h *History) Sample() {
	// The time is taken before the gather: the counters are read at its
	// start, while a slow collector (the broker's queue statistics) may
	// hold the gather's end for seconds; a time taken after it would make
	// the next interval look short and its rate a spike.
	now := h.now()
	v, err := h.read()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.err = err
	if err != nil {
		return
	}
	h.record(now, v)
}

func (h *History) record(now time.Time, v [nSeries]float64) {
	if !h.primed || !now.After(h.lastAt) {
		h.primed, h.lastAt = true, now
		copy(h.last[:], v[:nCounter])
		return
	}
	dt := now.Sub(h.lastAt).Seconds()
	var d [nSeries]float64
	for i := range nCounter {
		d[i] = max(0, v[i]-h.last[i])
	}
	// The increase is the second's in which the interval began: with one
	// sample a second, the interval [t, t+1) is second t's.
	sec := h.lastAt.Unix()
	copy(h.last[:], v[:nCounter])
	h.lastAt = now
	s := h.sec.slot(sec)
	m := h.min.slot(sec / 60)
	s.secs += dt
	m.secs += dt
	for i := range nCounter {
		s.v[i] += d[i]
		m.v[i] += d[i]
	}
	for i := nCounter; i < nSeries; i++ {
		s.v[i] = v[i]
		m.v[i] = max(m.v[i], v[i])
	}
}

// WriteJSON writes the ring of res ("1s" or "1m") as
//
//	{"res":"1s","step":1,"start":T,"end":T2,"series":{"received":[r, null, …], …}}
//
// one value per step from start to end (unix seconds; end is the last
// whole second, or the current minute), oldest first: rates in events per second and the gauges; null
// where there was no sample. since (unix seconds, 0: all) leaves out
// the points before it.
func (h *History) WriteJSON(buf *bytes.Buffer, res string, since int64) error {
	var r *ring
	switch res {
	case "1s", "":
		r, res = &h.sec, "1s"
	case "1m":
		r = &h.min
	default:
		return errors.New(`res must be "1s" or "1m"`)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	// The per-second ring ends with the last whole second; the per-minute
	// one with the current minute, as far as it went.
	end := h.now().Unix() / r.step
	if r.step == 1 {
		end--
	}
	start := end - int64(len(r.slots)) + 1
	if s := since / r.step; since > 0 && s+1 > start {
		start = min(s+1, end+1)
	}
	buf.WriteString(`{"res":"` + res + `","step":` + strconv.FormatInt(r.step, 10) +
		`,"start":` + strconv.FormatInt(start*r.step, 10) + `,"end":` + strconv.FormatInt(end*r.step, 10))
	if h.err != nil {
		buf.WriteString(`,"error":` + strconv.Quote(h.err.Error()))
	}
	buf.WriteString(`,"series":{`)
	for i, name := range HistorySeries {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(`"` + name + `":[`)
		for at := start; at <= end; at++ {
			if at > start {
				buf.WriteByte(',')
			}
			s := &r.slots[int(((at%int64(len(r.slots)))+int64(len(r.slots)))%int64(len(r.slots)))]
			if s.at != at || s.secs == 0 || at < 0 {
				buf.WriteString("null")
				continue
			}
			x := s.v[i]
			if i < nCounter {
				x /= s.secs
			}
			if math.IsNaN(x) || math.IsInf(x, 0) {
				buf.WriteString("null")
				continue
			}
			buf.Write(strconv.AppendFloat(nil, math.Round(x*1000)/1000, 'f', -1, 64))
		}
		buf.WriteByte(']')
	}
	buf.WriteString("}}\n")
	return nil
}

// ServeHTTP answers GET /admin/history?res=1s|1m[&since=unix].
func (h *History) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var since int64
	if v := r.URL.Query().Get("since"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			Error(w, http.StatusBadRequest, errors.New("since must be unix seconds"))
			return
		}
		since = n
	}
	var buf bytes.Buffer
	if err := h.WriteJSON(&buf, r.URL.Query().Get("res"), since); err != nil {
		Error(w, http.StatusBadRequest, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
}
