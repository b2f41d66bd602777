package client_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/event-grpc/event-grpc/client"
	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/gen/eventgrpc/v1/eventgrpcv1connect"
)

// scripted answers dispatch with per-event results chosen by the track
// call's name, and counts how often each event id was sent. It stands in
// for a service whose broker has not confirmed some events, which the real
// one cannot be made to do on demand.
type scripted struct {
	eventgrpcv1connect.UnimplementedEventServiceHandler
	mu    sync.Mutex
	sends map[string]int
}

func (s *scripted) Dispatch(_ context.Context, req *connect.Request[eventgrpcv1.Events]) (*connect.Response[eventgrpcv1.Response], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := &eventgrpcv1.Response{}
	for i, ev := range req.Msg.GetEvents() {
		s.sends[ev.GetId()]++
		r := &eventgrpcv1.EventResult{Index: int32(i), EventId: ev.GetId(), Accepted: true, Code: eventgrpcv1.ResultCode_RESULT_CODE_ACCEPTED}
		switch name := ev.GetTrackEvent().GetName(); {
		case name == "transient" && s.sends[ev.GetId()] == 1:
			r = &eventgrpcv1.EventResult{Index: int32(i), EventId: ev.GetId(), Code: eventgrpcv1.ResultCode_RESULT_CODE_UNAVAILABLE, Retryable: true,
				Reason: "the broker did not confirm in time"}
		case name == "permanent":
			// The text looks transient; the field says it is not.
			r = &eventgrpcv1.EventResult{Index: int32(i), EventId: ev.GetId(), Code: eventgrpcv1.ResultCode_RESULT_CODE_INVALID,
				Reason: "UNAVAILABLE: a reason whose text must not be read"}
		}
		resp.Results = append(resp.Results, r)
	}
	return connect.NewResponse(resp), nil
}

// TestRetryPolicyReadsTheField: an event whose result is retryable is sent
// again (with backoff) and delivered; one whose result is permanent is
// reported once with its code and never sent again, though its reason
// starts "UNAVAILABLE:". The log hook tells of the send, the retry and the
// rejection.
func TestRetryPolicyReadsTheField(t *testing.T) {
	s := &scripted{sends: map[string]int{}}
	_, h := eventgrpcv1connect.NewEventServiceHandler(s)
	srv := httptest.NewServer(h)
	defer srv.Close()
	log := &logs{}
	var mu sync.Mutex
	var rejected []client.Rejection
	c, err := client.New(client.Config{URL: srv.URL, MinBackoff: 20 * time.Millisecond, Logger: slog.New(log),
		OnRejected: func(rs []client.Rejection) { mu.Lock(); rejected = append(rejected, rs...); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"transient", "permanent", "fine"} {
		if err := c.TrackEvent(name, client.Properties{"k": name}, client.WithMessageID(name)); err != nil {
			t.Fatal(err)
		}
	}
	flushClose(t, c)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sends["transient"] != 2 || s.sends["permanent"] != 1 || s.sends["fine"] != 1 {
		t.Fatalf("sends per event %v: want transient 2, permanent 1, fine 1", s.sends)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(rejected) != 1 || rejected[0].EventID != "permanent" || rejected[0].Code != eventgrpcv1.ResultCode_RESULT_CODE_INVALID {
		t.Fatalf("rejections %+v", rejected)
	}
	if st := c.Stats(); st.Delivered != 2 || st.Rejected != 1 || st.Retries != 1 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
	for _, m := range []string{"DEBUG event-grpc client: sending", "INFO event-grpc client: retrying", "WARN event-grpc client: event rejected for good"} {
		if !log.has(m) {
			t.Errorf("no %q in the log: %q", m, log.msgs)
		}
	}
}
