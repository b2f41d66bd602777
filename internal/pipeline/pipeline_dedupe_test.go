package pipeline

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/dedupe"
)

func newDeduped(t *testing.T, rec *recorder, mods ...func(*Config)) (*Pipeline, dedupe.Store, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	dd, err := dedupe.Open(dedupe.Config{Window: time.Minute, PendingTTL: 10 * time.Second, LocalMaxItems: 1000},
		slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	p := newTest(t, rec, func(c *Config) {
		c.Dedupe = dd
		c.Registerer = reg
		for _, m := range mods {
			m(c)
		}
	})
	t.Cleanup(func() { p.Shutdown(context.Background()); dd.Close() })
	return p, dd, reg
}

func dispatch(t *testing.T, p *Pipeline, evs ...*eventgrpcv1.Event) (*eventgrpcv1.Response, error) {
	t.Helper()
	return p.Dispatch(context.Background(), SourceGRPC, &eventgrpcv1.Events{Events: evs})
}

func countIDs(rec *recorder, t *testing.T) map[string]int {
	n := map[string]int{}
	for _, evs := range rec.events(t) {
		for _, ev := range evs {
			n[ev.GetId()]++
		}
	}
	return n
}

func TestDedupeRetryAfterSuccess(t *testing.T) {
	rec := &recorder{}
	p, _, reg := newDeduped(t, rec)
	if resp, err := dispatch(t, p, launch("a", ms(now)), click("b", ms(now))); err != nil || resp.Accepted != 2 {
		t.Fatalf("first: %v %v", resp, err)
	}
	resp, err := dispatch(t, p, launch("a", ms(now)), click("c", ms(now)), launch("", ms(now)))
	if err != nil || resp.Accepted != 3 || resp.Status != eventgrpcv1.Status_STATUS_OK {
		t.Fatalf("retry: %v %v", resp, err)
	}
	if n := countIDs(rec, t); n["a"] != 1 || n["b"] != 1 || n["c"] != 1 || len(n) != 4 {
		t.Fatalf("published ids %v", n)
	}
	// Minted ids are not checked: 2 + 2 client ids.
	if got := testutil.ToFloat64(mustCounter(t, reg, "eventgrpc_dedupe_checked_total")); got != 4 {
		t.Fatalf("checked %v, want 4", got)
	}
}

func TestDedupeForgetsFailedPublish(t *testing.T) {
	rec := &recorder{fail: broker.ErrUnavailable}
	p, _, _ := newDeduped(t, rec)
	if _, err := dispatch(t, p, launch("x", ms(now))); !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("want the broker error, got %v", err)
	}
	rec.mu.Lock()
	rec.fail = nil
	rec.mu.Unlock()
	resp, err := dispatch(t, p, launch("x", ms(now)))
	if err != nil || resp.Accepted != 1 || countIDs(rec, t)["x"] != 1 {
		t.Fatalf("retry after a failed publish was not published: %v %v %v", resp, err, countIDs(rec, t))
	}
}

func TestDedupeInFlightIsNotAcknowledged(t *testing.T) {
	rec := &recorder{block: make(chan struct{}), started: make(chan struct{}, 16), fail: broker.ErrUnavailable}
	p, _, _ := newDeduped(t, rec)
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := p.Dispatch(ctx, SourceGRPC, &eventgrpcv1.Events{Events: []*eventgrpcv1.Event{launch("y", ms(now))}})
		first <- err
	}()
	<-rec.started
	cancel() // the client gives up; the publish goes on
	<-first
	resp, err := dispatch(t, p, launch("y", ms(now)))
	if err != nil || resp.Accepted != 0 || !strings.Contains(resp.Results[0].Reason, "UNAVAILABLE") {
		t.Fatalf("retry during the publish: %v %v, want rejected for a retry", resp, err)
	}
	close(rec.block) // the first publish fails now
	// Until that failure is settled retries are InFlight; then they are New
	// and published (and fail too: the broker is still down).
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := dispatch(t, p, launch("y", ms(now)))
		if errors.Is(err, broker.ErrUnavailable) {
			break
		}
		if err != nil || resp.Accepted != 0 {
			t.Fatalf("retry while the first publish fails: %v %v", resp, err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the failed publish was never forgotten")
		}
		time.Sleep(5 * time.Millisecond)
	}
	rec.mu.Lock()
	rec.fail = nil
	rec.mu.Unlock()
	if resp, err := dispatch(t, p, launch("y", ms(now))); err != nil || resp.Accepted != 1 {
		t.Fatalf("retry with the broker back: %v %v", resp, err)
	}
	if n := countIDs(rec, t)["y"]; n != 1 {
		t.Fatalf("y published %d times, want 1 (the failed one is not recorded)", n)
	}
}

func mustCounter(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			c := prometheus.NewCounter(prometheus.CounterOpts{Name: name})
			c.Add(mf.GetMetric()[0].GetCounter().GetValue())
			return c
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}

// TestInflightCountsStableEncodings: an event with an id is held twice
// while its request is in flight, as sent (the digest's encoding) and as
// published; the byte budget counts both.
func TestInflightCountsStableEncodings(t *testing.T) {
	rec := &recorder{block: make(chan struct{}), started: make(chan struct{}, 1)}
	p, _, _ := newDeduped(t, rec)
	blob := strings.Repeat("x", 10_000)
	ev := &eventgrpcv1.Event{Id: "held", Timestamp: ms(now), EventOf: &eventgrpcv1.Event_CustomEvent{CustomEvent: &eventgrpcv1.CustomEvent{
		Name: "budget", Params: map[string]string{"blob": blob}}}}
	done := make(chan error, 1)
	go func() {
		_, err := dispatch(t, p, ev)
		done <- err
	}()
	<-rec.started
	if n := p.inflight.Load(); n < 2*int64(len(blob)) {
		t.Errorf("bytes in flight while an event of %d bytes with an id is published = %d, want at least twice that", len(blob), n)
	}
	close(rec.block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := p.inflight.Load(); n != 0 {
		t.Fatalf("bytes in flight after the request finished = %d, want 0", n)
	}
}
