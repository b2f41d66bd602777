package tail

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/pipeline"
)

// acceptAll answers every event accepted, as the pipeline does when the
// broker confirmed them.
type acceptAll struct{}

func (acceptAll) Dispatch(_ context.Context, _ pipeline.Source, req *eventgrpcv1.Events) (*eventgrpcv1.Response, error) {
	resp := &eventgrpcv1.Response{Accepted: int32(len(req.Events))}
	for i, ev := range req.Events {
		resp.Results = append(resp.Results, &eventgrpcv1.EventResult{Index: int32(i), EventId: ev.Id, Accepted: true})
	}
	return resp, nil
}

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
	h := New(Config{})
	d := h.Wrap(acceptAll{})
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
// completes, and what it missed is counted.
func TestStuckReaderDoesNotBlock(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := New(Config{Buffer: 4, Registerer: reg})
	s, err := h.Subscribe(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d := h.Wrap(acceptAll{})
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
	// 1000 requests of 2 events; 4 fit the buffer.
	if got, want := s.Dropped(), uint64(2*(1000-4)); got != want {
		t.Fatalf("subscriber dropped %d events, want %d", got, want)
	}
	if got := testutil.ToFloat64(h.dropped); got != 2*(1000-4) {
		t.Fatalf("eventgrpc_tail_dropped_events_total = %v", got)
	}
}

func TestSubscriberCap(t *testing.T) {
	h := New(Config{MaxSubscribers: 2})
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
	h := New(Config{})
	req := launch("a", "u")
	resp, _ := acceptAll{}.Dispatch(context.Background(), "", req)
	b.ReportAllocs()
	for b.Loop() {
		h.Publish(pipeline.SourceGRPC, req, resp)
	}
}

func BenchmarkPublishStuckSubscriber(b *testing.B) {
	h := New(Config{Buffer: 1})
	s, _ := h.Subscribe(Filter{})
	defer s.Close()
	req := launch("a", "u")
	resp, _ := acceptAll{}.Dispatch(context.Background(), "", req)
	b.ReportAllocs()
	for b.Loop() {
		h.Publish(pipeline.SourceGRPC, req, resp)
	}
}
