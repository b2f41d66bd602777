package event

import (
	"errors"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
)

// eventCase is a case of a test of one function of an event: the event
// and what the function should return.
type eventCase struct {
	name string
	ev   *eventgrpcv1.Event
	want string
}

func TestName(t *testing.T) {
	tests := []eventCase{
		{
			name: "launch",
			ev:   &eventgrpcv1.Event{Id: "e1", EventOf: &eventgrpcv1.Event_LaunchEvent{LaunchEvent: &eventgrpcv1.LaunchEvent{LaunchSource: "icon"}}},
			want: "LaunchEvent",
		},
		{
			name: "add to cart",
			ev:   &eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_AddToCartEvent{AddToCartEvent: &eventgrpcv1.AddToCartEvent{ProductId: "p1"}}},
			want: "AddToCartEvent",
		},
		{
			name: "original name without Event suffix",
			ev:   &eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_InitiateReview{InitiateReview: &eventgrpcv1.InitiateReview{}}},
			want: "InitiateReview",
		},
		{
			name: "upper-case initialism kept",
			ev:   &eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_OtpVerifiedEvent{OtpVerifiedEvent: &eventgrpcv1.OTPVerifiedEvent{Success: true}}},
			want: "OTPVerifiedEvent",
		},
		{
			name: "custom event is CustomEvent, not its own name",
			ev: &eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_CustomEvent{CustomEvent: &eventgrpcv1.CustomEvent{
				Name: "PollVotedEvent", Params: map[string]string{"poll_id": "7"},
			}}},
			want: "CustomEvent",
		},
		{
			name: "payload with all fields empty still has a type",
			ev:   &eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_TestEvent{TestEvent: &eventgrpcv1.TestEvent{}}},
			want: "TestEvent",
		},
		{
			name: "wrapper holding a nil message still has a type",
			ev:   &eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_ErrorEvent{}},
			want: "ErrorEvent",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Name(tt.ev)
			if err != nil {
				t.Fatalf("Name() error = %v", err)
			}
			if got != tt.want {
				t.Errorf("Name() = %q, want %q", got, tt.want)
			}
		})
	}
}

// An event without a payload (empty, or nil) has no name and no payload
// JSON: ErrNoEventOf, and no bytes.
func TestNoEventOf(t *testing.T) {
	for name, ev := range map[string]*eventgrpcv1.Event{
		"id and timestamp only": {Id: "e1", Timestamp: "1718000000123"},
		"id only":               {Id: "e1"},
		"nil event":             nil,
	} {
		t.Run(name, func(t *testing.T) {
			if got, err := Name(ev); !errors.Is(err, ErrNoEventOf) || got != "" {
				t.Errorf("Name() = %q, %v, want \"\", %v", got, err, ErrNoEventOf)
			}
			got, err := PayloadJSON(ev)
			if !errors.Is(err, ErrNoEventOf) {
				t.Errorf("PayloadJSON() error = %v, want %v", err, ErrNoEventOf)
			}
			if got != nil {
				t.Errorf("PayloadJSON() = %s, want nil on error", got)
			}
		})
	}
}

func TestErrNoEventOfMessage(t *testing.T) {
	if got, want := ErrNoEventOf.Error(), "event has no eventOf set"; got != want {
		t.Errorf("ErrNoEventOf = %q, want %q", got, want)
	}
}

// eventWith returns an Event whose eventOf is set to a new, empty message of
// field fd's type, built through reflection.
func eventWith(t *testing.T, fd protoreflect.FieldDescriptor) *eventgrpcv1.Event {
	t.Helper()
	ev := &eventgrpcv1.Event{}
	m := ev.ProtoReflect()
	m.Set(fd, protoreflect.ValueOfMessage(m.NewField(fd).Message()))
	return ev
}

// Every field of the oneof, whatever its number, yields its message name
// from Name, a payload of that Go type from Payload, and JSON from
// PayloadJSON.
func TestEveryOneofField(t *testing.T) {
	fields := eventOf.Fields()
	if fields.Len() == 0 {
		t.Fatal("eventOf has no fields")
	}
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		want := string(fd.Message().Name())
		t.Run(want, func(t *testing.T) {
			ev := eventWith(t, fd)
			got, err := Name(ev)
			if err != nil || got != want {
				t.Fatalf("Name() = %q, %v; want %q, nil", got, err, want)
			}
			p := Payload(ev)
			if p == nil {
				t.Fatal("Payload() = nil")
			}
			if goName := reflect.TypeOf(p).Elem().Name(); goName != want {
				t.Errorf("Payload() Go type %s, want %s", goName, want)
			}
			if _, err := PayloadJSON(ev); err != nil {
				t.Errorf("PayloadJSON() error = %v", err)
			}
		})
	}
}

// required are the event types that must exist: the original system's and
// the ones other packages refer to by name.
var required = []string{
	"LaunchEvent", "LaunchReferEvent", "PageOpenedEvent", "PageLoadedEvent",
	"PageLoadFailedEvent", "WidgetViewEvent", "WidgetCtaClickedEvent",
	"WidgetElementViewEvent", "WidgetElementClickedEvent", "AddToCartEvent",
	"GoToPaymentsEvent", "InitiatePurchaseEvent", "CompletePurchaseEvent",
	"PurchaseFailedEvent", "StreamEnterEvent", "ChooseProductEvent",
	"SocialStreamEnterEvent", "SocialStreamActionEvent", "InitiateReview",
	"EnterReviewScreen", "SubmitReview", "ViewAllReviews", "ExpandReviewImage",
	"PhoneVerificationInitiateEvent", "PhoneNumberEntered", "OTPVerifiedEvent",
	"AppStartEvent", "NotificationActionEvent", "SessionIdChangeEvent",
	"TestEvent", "ClickEvent", "AppInitEvent", "AbAssignmentEvent",
	"ErrorEvent", "CustomEvent",
}

func TestNames(t *testing.T) {
	got := Names()
	if len(got) < 60 {
		t.Errorf("Names() has %d entries, want at least 60", len(got))
	}
	if n := eventOf.Fields().Len(); len(got) != n {
		t.Errorf("Names() has %d entries, the eventOf oneof has %d fields", len(got), n)
	}
	if !sort.StringsAreSorted(got) {
		t.Errorf("Names() is not sorted: %v", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i] == got[i-1] {
			t.Errorf("Names() has %q twice: two oneof fields share a message type, so Name() cannot tell them apart", got[i])
		}
	}
	for _, name := range required {
		if _, found := slices.BinarySearch(got, name); !found {
			t.Errorf("Names() lacks %q", name)
		}
	}
	for _, name := range got {
		if strings.TrimSpace(name) == "" || strings.Contains(name, ".") {
			t.Errorf("Names() entry %q is not a short message name", name)
		}
	}
}

func TestNamesReturnsACopy(t *testing.T) {
	first := Names()
	first[0] = "Clobbered"
	if second := Names(); second[0] == "Clobbered" {
		t.Error("changing the slice Names() returned changed the next call's result")
	}
}

func TestPayload(t *testing.T) {
	launch := &eventgrpcv1.LaunchEvent{LaunchSource: "push", ColdStart: true}
	custom := &eventgrpcv1.CustomEvent{Name: "PollVotedEvent"}
	tests := []struct {
		name string
		ev   *eventgrpcv1.Event
		want proto.Message // compared by pointer unless wantEmpty
		// wantEmpty: the payload must be a new, empty message of this type.
		wantEmpty proto.Message
	}{
		{
			name: "launch",
			ev:   &eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_LaunchEvent{LaunchEvent: launch}},
			want: launch,
		},
		{
			name: "custom",
			ev:   &eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_CustomEvent{CustomEvent: custom}},
			want: custom,
		},
		{
			name:      "wrapper holding nil",
			ev:        &eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_SearchEvent{}},
			wantEmpty: &eventgrpcv1.SearchEvent{},
		},
		{name: "empty event", ev: &eventgrpcv1.Event{Id: "e1"}},
		{name: "nil event", ev: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Payload(tt.ev)
			switch {
			case tt.wantEmpty != nil:
				if got == nil || reflect.ValueOf(got).IsNil() {
					t.Fatalf("Payload() = %#v, want a new empty %T", got, tt.wantEmpty)
				}
				if reflect.TypeOf(got) != reflect.TypeOf(tt.wantEmpty) || !proto.Equal(got, tt.wantEmpty) {
					t.Errorf("Payload() = %T %v, want empty %T", got, got, tt.wantEmpty)
				}
			case tt.want != nil:
				if got != tt.want {
					t.Errorf("Payload() = %p %v, want the event's own message %p", got, got, tt.want)
				}
			default:
				if got != nil {
					t.Errorf("Payload() = %T %v, want nil", got, got)
				}
			}
		})
	}
}

func TestPayloadJSON(t *testing.T) {
	tests := []eventCase{
		{
			name: "snake_case keys, int64 as string, zero values left out",
			ev: &eventgrpcv1.Event{Id: "e1", Timestamp: "1718000000123", EventOf: &eventgrpcv1.Event_LaunchEvent{LaunchEvent: &eventgrpcv1.LaunchEvent{
				LaunchSource: "push", NotificationId: "n-9", ColdStart: true, LaunchTimeMs: 1200,
			}}},
			want: `{"launch_source":"push","notification_id":"n-9","cold_start":true,"launch_time_ms":"1200"}`,
		},
		{
			name: "doubles and quantities",
			ev: &eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_AddToCartEvent{AddToCartEvent: &eventgrpcv1.AddToCartEvent{
				ProductId: "p1", Price: 499.5, Currency: "INR", Quantity: 2,
			}}},
			want: `{"product_id":"p1","price":499.5,"currency":"INR","quantity":"2"}`,
		},
		{
			name: "custom event: params keys sorted",
			ev: &eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_CustomEvent{CustomEvent: &eventgrpcv1.CustomEvent{
				Name: "PollVotedEvent", Params: map[string]string{"poll_id": "7", "choice": "b", "answer_ms": "820"},
			}}},
			want: `{"name":"PollVotedEvent","params":{"answer_ms":"820","choice":"b","poll_id":"7"}}`,
		},
		{
			name: "nested messages and repeated fields",
			ev: &eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_FilterAppliedEvent{FilterAppliedEvent: &eventgrpcv1.FilterAppliedEvent{
				Screen:  "search",
				Filters: []*eventgrpcv1.FilterAppliedEvent_Filter{{Key: "brand", Values: []string{"acme", "zeta"}}},
			}}},
			want: `{"screen":"search","filters":[{"key":"brand","values":["acme","zeta"]}]}`,
		},
		{
			name: "all fields unset",
			ev:   &eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_TestEvent{TestEvent: &eventgrpcv1.TestEvent{}}},
			want: `{}`,
		},
		{
			name: "wrapper holding nil",
			ev:   &eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_TestEvent{}},
			want: `{}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PayloadJSON(tt.ev)
			if err != nil {
				t.Fatalf("PayloadJSON() error = %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("PayloadJSON() =\n  %s\nwant\n  %s", got, tt.want)
			}
		})
	}
}
