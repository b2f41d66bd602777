package tail

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/ingest/ingesttest"
	"github.com/event-grpc/event-grpc/internal/pipeline"
)

func launch(id, user string) *eventgrpcv1.Events {
	return &eventgrpcv1.Events{
		Header: &eventgrpcv1.Header{UserId: user},
		Events: []*eventgrpcv1.Event{
			{Id: id, EventOf: &eventgrpcv1.Event_LaunchEvent{LaunchEvent: &eventgrpcv1.LaunchEvent{}}},
			{Id: id + "-c", EventOf: &eventgrpcv1.Event_CustomEvent{CustomEvent: &eventgrpcv1.CustomEvent{Name: "signup"}}},
		},
	}
}

func TestFilters(t *testing.T) {
	h := must(New(Config{}))
	d := h.Wrap(ingesttest.AcceptAll{})
	cases := []struct {
		name string
		f    Filter
		want []string
	}{
		{"all", Filter{}, []string{"a", "a-c"}},
		{"type", Filter{Type: "LaunchEvent"}, []string{"a"}},
		{"custom name", Filter{Type: "signup"}, []string{"a-c"}},
		{"source", Filter{Source: "http"}, nil},
		{"where snake", Filter{Where: map[string]string{"user_id": "u-1"}}, []string{"a", "a-c"}},
		{"where other", Filter{Where: map[string]string{"userId": "u-2"}}, nil},
		{"where id", Filter{Where: map[string]string{"id": "a-c"}}, []string{"a-c"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := h.Subscribe(c.f)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := d.Dispatch(context.Background(), pipeline.SourceGRPC, launch("a", "u-1")); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			evs, _ := s.Next(ctx)
			var got []string
			for _, e := range evs {
				got = append(got, e.ID)
				if len(e.Event) == 0 || len(e.Header) == 0 {
					t.Errorf("event %s has no JSON body or header", e.ID)
				}
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("got %v, want %v", got, c.want)
				}
			}
		})
	}
}

// A subscriber that never reads does not hold dispatch up: every dispatch
// completes, what it holds stays within its byte bound, and what it
// missed is counted.
func TestStuckReaderDoesNotBlock(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := must(New(Config{MaxBytes: 4 << 10, Registerer: reg}))
	s, err := h.Subscribe(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d := h.Wrap(ingesttest.AcceptAll{})
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 250; i++ {
				if _, err := d.Dispatch(context.Background(), pipeline.SourceGRPC, launch("x", "u")); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("dispatches blocked behind a tail reader that never reads")
	}
	if b := s.Buffered(); b > 4<<10 || b == 0 {
		t.Fatalf("subscriber holds %d bytes, want 1..%d", b, 4<<10)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	held, err := s.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// 1000 requests of 2 events: each one either held or counted.
	if got, want := s.Dropped()+uint64(len(held)), uint64(2*1000); got != want {
		t.Fatalf("dropped %d + held %d = %d events, want %d", s.Dropped(), len(held), got, want)
	}
	if got := testutil.ToFloat64(h.dropped); got != float64(s.Dropped()) {
		t.Fatalf("eventgrpc_tail_dropped_events_total = %v, subscriber dropped %d", got, s.Dropped())
	}
}

// big is a request of one accepted custom event whose parameter is n bytes.
func big(id string, n int) *eventgrpcv1.Events {
	return &eventgrpcv1.Events{
		Header: &eventgrpcv1.Header{UserId: "u"},
		Events: []*eventgrpcv1.Event{{Id: id, EventOf: &eventgrpcv1.Event_CustomEvent{CustomEvent: &eventgrpcv1.CustomEvent{
			Name: "blob", Params: map[string]string{"v": strings.Repeat("x", n)}}}}},
	}
}

// A subscriber holds copies of what the tail shows, never the dispatched
// request: 8 stalled subscribers and 96 requests of 4 MiB retain no more
// than their byte bounds (8 × 1 MiB), each event an excerpt of at most
// MaxEventBytes. On e066805 each subscriber's channel held 64 whole
// requests (over 256 MB here).
func TestStalledSubscribersHoldBoundedBytes(t *testing.T) {
	h := must(New(Config{}))
	var subs []*Sub
	for range 8 {
		s, err := h.Subscribe(Filter{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		subs = append(subs, s)
	}
	base := ingesttest.HeapInUse()
	d := h.Wrap(ingesttest.AcceptAll{})
	for i := range 96 {
		if _, err := d.Dispatch(context.Background(), pipeline.SourceHTTP, big(fmt.Sprint("b", i), 4<<20)); err != nil {
			t.Fatal(err)
		}
	}
	grew := int64(ingesttest.HeapInUse()) - int64(base)
	t.Logf("8 stalled subscribers after 96 requests of 4 MiB: heap grew %.1f MB", float64(grew)/1e6)
	if grew > 64<<20 {
		t.Fatalf("heap grew %d bytes with 8 stalled subscribers, want at most 64 MiB", grew)
	}
	for i, s := range subs {
		if b := s.Buffered(); b > DefaultMaxBytes {
			t.Fatalf("subscriber %d holds %d bytes, over its bound %d", i, b, DefaultMaxBytes)
		}
		if s.Dropped() == 0 {
			t.Fatalf("subscriber %d dropped nothing", i)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	evs, err := subs[0].Next(ctx)
	if err != nil || len(evs) == 0 {
		t.Fatalf("Next: %d events, %v", len(evs), err)
	}
	e := evs[0]
	var excerpt string
	if err := json.Unmarshal(e.Event, &excerpt); err != nil || !strings.HasPrefix(excerpt, `{"id":"b0"`) {
		t.Fatalf("excerpt is not a JSON string of the event's start: %v %.60s", err, e.Event)
	}
	if e.Truncated == 0 || len(excerpt) > DefaultMaxEventBytes+len("…") {
		t.Fatalf("a 4 MiB event shown as %d bytes (truncated %d), want an excerpt of at most %d", len(excerpt), e.Truncated, DefaultMaxEventBytes)
	}
	if b, err := json.Marshal(evs); err != nil || !json.Valid(b) {
		t.Fatalf("events do not marshal: %v", err)
	}
}

func TestSubscriberCap(t *testing.T) {
	h := must(New(Config{MaxSubscribers: 2}))
	a, _ := h.Subscribe(Filter{})
	b, _ := h.Subscribe(Filter{})
	if _, err := h.Subscribe(Filter{}); err != ErrTooMany {
		t.Fatalf("third subscriber: %v, want ErrTooMany", err)
	}
	a.Close()
	a.Close()
	if h.Subscribers() != 1 {
		t.Fatalf("subscribers = %d after one Close (twice)", h.Subscribers())
	}
	c, err := h.Subscribe(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	c.Close()
}

func BenchmarkPublishNoSubscriber(b *testing.B) {
	h := must(New(Config{}))
	req := launch("a", "u")
	resp, _ := ingesttest.AcceptAll{}.Dispatch(context.Background(), "", req)
	b.ReportAllocs()
	for b.Loop() {
		h.Publish(pipeline.SourceGRPC, req, resp)
	}
}

func BenchmarkPublishStuckSubscriber(b *testing.B) {
	h := must(New(Config{MaxBytes: 1}))
	s, _ := h.Subscribe(Filter{})
	defer s.Close()
	req := launch("a", "u")
	resp, _ := ingesttest.AcceptAll{}.Dispatch(context.Background(), "", req)
	b.ReportAllocs()
	for b.Loop() {
		h.Publish(pipeline.SourceGRPC, req, resp)
	}
}
