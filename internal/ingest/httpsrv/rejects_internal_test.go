package httpsrv

import (
	"context"
	"strings"
	"testing"
	"time"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/pipeline"
)

// rejectOdd rejects the events at odd indexes, as the pipeline answers a
// partly invalid request; a request of more than 100 events is refused
// whole, as MAX_EVENTS_PER_REQUEST does.
type rejectOdd struct{}

func (rejectOdd) Dispatch(_ context.Context, _ pipeline.Source, req *eventgrpcv1.Events) (*eventgrpcv1.Response, error) {
	if len(req.Events) > 100 {
		return nil, fault.Permanentf("request has %d events; the limit is 100", len(req.Events))
	}
	resp := &eventgrpcv1.Response{}
	for i, ev := range req.Events {
		r := &eventgrpcv1.EventResult{Index: int32(i), EventId: ev.Id, Accepted: i%2 == 0}
		if r.Accepted {
			resp.Accepted++
		} else {
			r.Reason = "event " + ev.Id + ": timestamp is older than the accepted age"
			resp.Rejected++
		}
		resp.Results = append(resp.Results, r)
	}
	return resp, nil
}

func events(n int, name string) *eventgrpcv1.Events {
	req := &eventgrpcv1.Events{}
	for i := range n {
		req.Events = append(req.Events, &eventgrpcv1.Event{Id: "e" + string(rune('0'+i%10)), Timestamp: "1",
			EventOf: &eventgrpcv1.Event_CustomEvent{CustomEvent: &eventgrpcv1.CustomEvent{Name: name}}})
	}
	return req
}

func TestRejectsSampleTheRejectedEvents(t *testing.T) {
	r := NewRejects()
	now := time.Unix(1_800_000_000, 0)
	r.now = func() time.Time { return now }
	d := r.Wrap(rejectOdd{})
	resp, err := d.Dispatch(context.Background(), pipeline.SourceHTTP, events(4, "signup"))
	if err != nil || resp.Accepted != 2 {
		t.Fatalf("dispatch through the tap: %v %v", resp, err)
	}
	got := r.List()
	if len(got) != 2 || got[0].Reason != "event e3: timestamp is older than the accepted age" || got[1].Reason != "event e1: timestamp is older than the accepted age" {
		t.Fatalf("samples, newest first: %+v", got)
	}
	if got[0].Source != "http" || !strings.Contains(got[0].Body, `"signup"`) || !strings.Contains(got[0].Body, `"e3"`) || got[0].Truncated {
		t.Fatalf("sample body: %+v", got[0])
	}
	// A whole request refused: its first event and the error.
	if _, err := d.Dispatch(context.Background(), pipeline.SourceGRPC, events(101, "bulk")); err == nil {
		t.Fatal("101 events accepted")
	}
	if s := r.List()[0]; s.Source != "grpc" || !strings.Contains(s.Reason, "the limit is 100") || !strings.Contains(s.Body, "bulk") {
		t.Fatalf("a refused request's sample: %+v", s)
	}
	// At most rejectPerRequest samples of one request.
	r2 := NewRejects()
	r2.Wrap(rejectOdd{}).Dispatch(context.Background(), pipeline.SourceHTTP, events(20, "x"))
	if n := len(r2.List()); n != rejectPerRequest {
		t.Fatalf("%d samples of one request, want %d", n, rejectPerRequest)
	}
}

func TestRejectsAreBounded(t *testing.T) {
	r := NewRejects()
	now := time.Unix(1_800_000_000, 0)
	r.now = func() time.Time { return now }
	// Per second, at most rejectPerSecond requests are sampled.
	d := r.Wrap(rejectOdd{})
	for range 3 * rejectPerSecond {
		d.Dispatch(context.Background(), pipeline.SourceHTTP, events(2, "x"))
	}
	if n := len(r.List()); n != rejectPerSecond {
		t.Fatalf("%d samples in one second, want %d", n, rejectPerSecond)
	}
	// By count.
	for i := range 2 * RejectSamplesMax {
		r.Add(RejectSample{Reason: "r", Body: string(rune('a' + i%26))})
	}
	if n := len(r.List()); n != RejectSamplesMax {
		t.Fatalf("%d samples kept, max %d", n, RejectSamplesMax)
	}
	// By bytes: bodies and reasons are cut, and the total is bounded.
	big := strings.Repeat("é", RejectSampleBytes) // 2 bytes a rune: cut at a rune boundary
	for range RejectSamplesMax {
		r.Add(RejectSample{Reason: strings.Repeat("why ", 200), Body: big})
	}
	total := 0
	for _, s := range r.List() {
		if len(s.Body) > RejectSampleBytes || len(s.Reason) > RejectReasonBytes || !s.Truncated || !strings.HasSuffix(s.Body, "é") {
			t.Fatalf("a sample over its bounds: body %d reason %d truncated %v", len(s.Body), len(s.Reason), s.Truncated)
		}
		total += len(s.Body) + len(s.Reason)
	}
	if total > RejectSamplesBytes || r.bytes != total {
		t.Fatalf("%d bytes kept (counted %d), bound %d", total, r.bytes, RejectSamplesBytes)
	}
}
