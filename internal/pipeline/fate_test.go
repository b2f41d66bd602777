package pipeline

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
)

// TestEveryFateHasACode: programs (the SDKs, the Segment API's answer)
// decide what to resend from EventResult.code and retryable, never from
// the reason's text: each fate of an event carries its code, and only the
// valid-but-not-durable ones are retryable.
func TestEveryFateHasACode(t *testing.T) {
	rec := &recorder{}
	p, _, _ := newDeduped(t, rec, func(c *Config) { c.MaxEventBytes = 10000 })
	ctx := context.Background()
	big := &eventgrpcv1.Event{Id: "big", Timestamp: ms(now), EventOf: &eventgrpcv1.Event_CustomEvent{CustomEvent: &eventgrpcv1.CustomEvent{
		Name: "big", Params: map[string]string{"v": strings.Repeat("x", 20000)}}}}
	first, err := p.Dispatch(ctx, SourceGRPC, from("a", launch("k1", ms(now))))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.Dispatch(ctx, SourceGRPC, from("a",
		launch("k2", ms(now)),                     // 0 accepted
		launch("k1", ms(now)),                     // 1 duplicate of the first request
		click("k1", ms(now)),                      // 2 another event under a used id
		&eventgrpcv1.Event{Id: "e"},               // 3 no payload
		launch("old", ms(now.Add(-48*time.Hour))), // 4 too old
		big, // 5 over MAX_EVENT_BYTES
	))
	if err != nil {
		t.Fatal(err)
	}
	A, D := eventgrpcv1.ResultCode_RESULT_CODE_ACCEPTED, eventgrpcv1.ResultCode_RESULT_CODE_DUPLICATE
	I, C, T := eventgrpcv1.ResultCode_RESULT_CODE_INVALID, eventgrpcv1.ResultCode_RESULT_CODE_CONFLICT, eventgrpcv1.ResultCode_RESULT_CODE_TOO_LARGE
	want := []eventgrpcv1.ResultCode{A, D, C, I, I, T}
	if r := first.Results[0]; r.Code != A || r.Retryable || !r.Accepted {
		t.Fatalf("first request: %v", r)
	}
	for i, w := range want {
		r := resp.Results[i]
		if r.Code != w || r.Retryable || r.Accepted != (w == A || w == D) {
			t.Errorf("result %d = %v, want code %v, not retryable", i, r, w)
		}
		if (w == A) != (r.Reason == "") {
			t.Errorf("result %d: reason %q", i, r.Reason)
		}
	}

	// The broker's failures: overload and an outage are retryable, a
	// message the topology cannot route is not.
	for _, c := range []struct {
		err       error
		code      eventgrpcv1.ResultCode
		retryable bool
	}{
		{classifyPublish(broker.ErrOverloaded), eventgrpcv1.ResultCode_RESULT_CODE_RESOURCE_EXHAUSTED, true},
		{classifyPublish(errors.New("connection reset")), eventgrpcv1.ResultCode_RESULT_CODE_UNAVAILABLE, true},
		{classifyPublish(broker.ErrUnroutable), eventgrpcv1.ResultCode_RESULT_CODE_INTERNAL, false},
		{fault.Permanent(errors.New("no queue")), eventgrpcv1.ResultCode_RESULT_CODE_INTERNAL, false},
	} {
		var r eventgrpcv1.EventResult
		setFate(&r, publishCode(c.err), publishReason(c.err))
		if r.Code != c.code || r.Retryable != c.retryable {
			t.Errorf("%v: code %v retryable %v, want %v %v", c.err, r.Code, r.Retryable, c.code, c.retryable)
		}
	}
}
