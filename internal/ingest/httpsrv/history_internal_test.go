package httpsrv

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/component/componenttest"
	"github.com/prometheus/client_golang/prometheus"
)

type historyJSON struct {
	Res    string                `json:"res"`
	Step   int64                 `json:"step"`
	Start  int64                 `json:"start"`
	End    int64                 `json:"end"`
	Error  string                `json:"error"`
	Series map[string][]*float64 `json:"series"`
}

func readHistory(t *testing.T, h *History, res string, since int64) historyJSON {
	t.Helper()
	var buf bytes.Buffer
	if err := h.WriteJSON(&buf, res, since); err != nil {
		t.Fatal(err)
	}
	var out historyJSON
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	for name, s := range out.Series {
		if want := (out.End-out.Start)/out.Step + 1; int64(len(s)) != want {
			t.Fatalf("%s: %d points from %d to %d step %d", name, len(s), out.Start, out.End, out.Step)
		}
	}
	return out
}

// historyCounters registers the counters the history reads.
func historyCounters(t *testing.T) (*prometheus.Registry, *prometheus.CounterVec, *prometheus.CounterVec, *prometheus.GaugeVec) {
	reg := prometheus.NewRegistry()
	accepted := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eventgrpc_ingest_events_accepted_total"}, []string{"source", "type"})
	stored := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eventgrpc_consume_events_total"}, []string{"queue", "type", "outcome"})
	queued := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "eventgrpc_queue_messages"}, []string{"queue", "error_queue"})
	reg.MustRegister(accepted, stored, queued)
	return reg, accepted, stored, queued
}

func TestHistoryRatesPerSecondAndPerMinute(t *testing.T) {
	reg, accepted, stored, queued := historyCounters(t)
	h := NewHistory(reg, "all_q")
	t0 := time.Unix(1_800_000_000, 0) // a whole minute
	now := t0
	h.now = func() time.Time { return now }
	h.Sample() // baseline
	// 90 s: 100 events/s accepted in the first 30 s, then nothing; the
	// catch-all queue stores 50/s; another queue's stores do not count.
	for i := 1; i <= 90; i++ {
		now = t0.Add(time.Duration(i) * time.Second)
		if i <= 30 {
			accepted.WithLabelValues("grpc", "E").Add(100)
		}
		stored.WithLabelValues("all_q", "E", "stored").Add(50)
		stored.WithLabelValues("other_q", "E", "stored").Add(7)
		queued.WithLabelValues("x.error", "true").Set(float64(i))
		h.Sample()
	}
	s := readHistory(t, h, "1s", 0)
	if s.Step != 1 || s.End != now.Unix()-1 || len(s.Series["accepted"]) != HistorySeconds {
		t.Fatalf("1s: step %d end %d (want %d) points %d", s.Step, s.End, now.Unix()-1, len(s.Series["accepted"]))
	}
	acc, st, dead := s.Series["accepted"], s.Series["stored"], s.Series["dead"]
	last := len(acc) - 1
	if acc[last-60] == nil || *acc[last-60] != 100 || acc[last] == nil || *acc[last] != 0 {
		t.Fatalf("accepted/s 60 s ago %v, now %v; want 100 and 0", acc[last-60], acc[last])
	}
	if *st[last] != 50 || *dead[last] != 90 {
		t.Fatalf("stored/s %v dead %v; want 50 and 90", *st[last], *dead[last])
	}
	if acc[last-89] == nil || acc[last-90] != nil || acc[0] != nil {
		t.Fatal("want a point for the first second sampled, none before")
	}

	// Per minute: the first minute averaged 50/s accepted (30 s at 100/s
	// over 60 s), the second (30 s so far) 0; stored 50/s; dead the max.
	m := readHistory(t, h, "1m", 0)
	ma, mdead := m.Series["accepted"], m.Series["dead"]
	n := len(ma)
	if m.Step != 60 || n != HistoryMinutes || m.End != now.Unix()/60*60 {
		t.Fatalf("1m: step %d points %d end %d", m.Step, n, m.End)
	}
	if ma[n-2] == nil || *ma[n-2] != 50 || *ma[n-1] != 0 || *m.Series["stored"][n-2] != 50 || *mdead[n-2] != 60 || *mdead[n-1] != 90 {
		t.Fatalf("per minute accepted %v %v, dead %v %v", *ma[n-2], *ma[n-1], *mdead[n-2], *mdead[n-1])
	}

	// since: only the newer points.
	p := readHistory(t, h, "1s", now.Unix()-3)
	if p.Start != now.Unix()-2 || len(p.Series["accepted"]) != 2 {
		t.Fatalf("since: start %d (want %d), %d points", p.Start, now.Unix()-2, len(p.Series["accepted"]))
	}
	if err := h.WriteJSON(&bytes.Buffer{}, "5m", 0); err == nil {
		t.Fatal("res 5m is accepted")
	}
}

// The rings are fixed arrays: a day and more of samples wraps them, an
// hour later the per-second ring shows only that hour, and a pause in
// sampling is a gap (null), not a spike.
func TestHistoryWrapsAndShowsGaps(t *testing.T) {
	reg, accepted, _, _ := historyCounters(t)
	h := NewHistory(reg, "all_q")
	t0 := time.Unix(1_800_000_000, 0)
	now := t0
	h.now = func() time.Time { return now }
	h.Sample()
	for i := 1; i <= 26*3600; i += 7 { // a sample every 7 s for 26 h
		now = t0.Add(time.Duration(i) * time.Second)
		accepted.WithLabelValues("grpc", "E").Add(70)
		h.Sample()
	}
	if len(h.sec.slots) != HistorySeconds || len(h.min.slots) != HistoryMinutes {
		t.Fatal("the rings grew")
	}
	s := readHistory(t, h, "1s", 0)
	nonNull := 0
	for _, v := range s.Series["accepted"] {
		if v != nil {
			nonNull++
			if *v != 10 { // 70 events over 7 s
				t.Fatalf("rate %v, want 10", *v)
			}
		}
	}
	if nonNull < 3600/7-1 || nonNull > 3600/7+1 {
		t.Fatalf("%d points in the last hour, want about %d", nonNull, 3600/7)
	}
	m := readHistory(t, h, "1m", 0)
	for i, v := range m.Series["accepted"][1:] { // the oldest minute may be partial
		if v == nil || *v < 9.9 || *v > 10.1 {
			t.Fatalf("minute %d: %v, want 10/s", i+1, v)
		}
	}
}

func TestHistoryStartShutdown(t *testing.T) {
	reg, accepted, _, _ := historyCounters(t)
	h := NewHistory(reg, "all_q")
	h.tick = 20 * time.Millisecond
	h.Start()
	deadline := time.Now().Add(5 * time.Second)
	for {
		accepted.WithLabelValues("grpc", "E").Add(5)
		s := readHistory(t, h, "1m", 0)
		if v := s.Series["accepted"][len(s.Series["accepted"])-1]; v != nil && *v > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sampler recorded nothing")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	componenttest.StopTwice(t, ctx, h.Shutdown)
	if err := NewHistory(reg, "").Shutdown(ctx); err != nil {
		t.Fatal("Shutdown without Start:", err)
	}
}

// slowOnce is a collector whose first Collect takes 5 s of the test's clock,
// as the broker's queue statistics may under load.
type slowOnce struct {
	clock *time.Time
	done  bool
}

func (s *slowOnce) Describe(chan<- *prometheus.Desc) {}
func (s *slowOnce) Collect(chan<- prometheus.Metric) {
	if !s.done {
		s.done = true
		*s.clock = s.clock.Add(5 * time.Second)
	}
}

// A slow gather does not make the next interval look short: the rate is
// the counters' increase over the time between their readings.
func TestHistorySlowGatherIsNoSpike(t *testing.T) {
	reg, accepted, _, _ := historyCounters(t)
	now := time.Unix(1_800_000_000, 0)
	reg.MustRegister(&slowOnce{clock: &now})
	h := NewHistory(reg, "")
	h.now = func() time.Time { return now }
	h.Sample()                                     // reads the counters at 0 s, ends at 5 s
	accepted.WithLabelValues("grpc", "E").Add(600) // 100/s from 0 s to 6 s
	now = now.Add(time.Second)
	h.Sample() // at 6 s
	s := readHistory(t, h, "1m", 0)
	a := s.Series["accepted"]
	if v := a[len(a)-1]; v == nil || *v != 100 {
		t.Fatalf("accepted %v/s, want 100", v)
	}
}
