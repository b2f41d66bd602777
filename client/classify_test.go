package client

import (
	"errors"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/types/known/durationpb"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
)

// TestClassify: which whole-request failures are retried, and with which
// hint — the Retry-After-Ms metadata, or a google.rpc.RetryInfo detail
// (the gRPC port's refusal before a call starts carries no trailers).
func TestClassify(t *testing.T) {
	withMeta := func(code connect.Code, ms string) error {
		ce := connect.NewError(code, errors.New("x"))
		if ms != "" {
			ce.Meta().Set("Retry-After-Ms", ms)
		}
		return ce
	}
	withInfo := func(code connect.Code, d time.Duration) error {
		ce := connect.NewError(code, errors.New("x"))
		det, err := connect.NewErrorDetail(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
		if err != nil {
			t.Fatal(err)
		}
		ce.AddDetail(det)
		return ce
	}
	for _, tc := range []struct {
		name  string
		err   error
		retry bool
		hint  time.Duration
	}{
		{"unavailable", withMeta(connect.CodeUnavailable, ""), true, 0},
		{"exhausted with metadata hint", withMeta(connect.CodeResourceExhausted, "250"), true, 250 * time.Millisecond},
		{"exhausted with RetryInfo", withInfo(connect.CodeResourceExhausted, 1500*time.Millisecond), true, 1500 * time.Millisecond},
		{"exhausted without hint (too large)", withMeta(connect.CodeResourceExhausted, ""), false, 0},
		{"invalid argument", withMeta(connect.CodeInvalidArgument, ""), false, 0},
		{"unauthenticated", withMeta(connect.CodeUnauthenticated, ""), false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			retry, hint := classify(tc.err)
			if retry != tc.retry || hint != tc.hint {
				t.Fatalf("classify = (%v, %v), want (%v, %v)", retry, hint, tc.retry, tc.hint)
			}
		})
	}
}

// TestRetryableFromTheField: a rejected event is resent when the service's
// result says retryable, whatever its reason's text; only a result from a
// service older than the field (code unspecified) is read by its reason.
func TestRetryableFromTheField(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    *eventgrpcv1.EventResult
		want bool
	}{
		{"retryable", &eventgrpcv1.EventResult{Code: eventgrpcv1.ResultCode_RESULT_CODE_UNAVAILABLE, Retryable: true, Reason: "broker did not confirm"}, true},
		{"overloaded", &eventgrpcv1.EventResult{Code: eventgrpcv1.ResultCode_RESULT_CODE_RESOURCE_EXHAUSTED, Retryable: true}, true},
		{"permanent, whatever its text", &eventgrpcv1.EventResult{Code: eventgrpcv1.ResultCode_RESULT_CODE_INVALID, Reason: "UNAVAILABLE: looks transient"}, false},
		{"conflict", &eventgrpcv1.EventResult{Code: eventgrpcv1.ResultCode_RESULT_CODE_CONFLICT, Reason: "conflict: id reused"}, false},
		{"older service, transient text", &eventgrpcv1.EventResult{Reason: "UNAVAILABLE: not confirmed"}, true},
		{"older service, permanent text", &eventgrpcv1.EventResult{Reason: "event is empty"}, false},
	} {
		if got := retryable(tc.r); got != tc.want {
			t.Errorf("%s: retryable = %v, want %v", tc.name, got, tc.want)
		}
	}
}
