package consume

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/event-grpc/event-grpc/internal/broker"
)

func TestDeadLetterHeaders(t *testing.T) {
	d := broker.Delivery{Queue: "orders", Exchange: "grpc_event.tx", RoutingKey: "Order", RetryCount: 2,
		Headers: map[string]string{"x-insert-time": "1", broker.HeaderRetryCount: "2"}}
	r := deadLetterCopy(d, errors.New("column x:\nnot a number"))
	if !r.DeadLetter {
		t.Fatal("not marked as a dead letter")
	}
	want := map[string]string{
		broker.HeaderRetryCount:         "2",
		broker.HeaderOriginalExchange:   "grpc_event.tx",
		broker.HeaderOriginalRoutingKey: "Order",
		broker.HeaderOriginalQueue:      "orders",
		broker.HeaderErrorReason:        "column x: not a number",
		"x-insert-time":                 "1",
	}
	for k, v := range want {
		if r.Headers[k] != v {
			t.Errorf("%s = %q, want %q", k, r.Headers[k], v)
		}
	}
}

func TestReasonBounded(t *testing.T) {
	long := strings.Repeat("é", 400) // 800 bytes, two per rune
	got := reason(errors.New(long))
	if len(got) > maxReason || !utf8.ValidString(got) || !strings.HasSuffix(got, "...") {
		t.Errorf("reason of %d bytes (valid UTF-8 %v), want at most %d, valid, ending in ...", len(got), utf8.ValidString(got), maxReason)
	}
	if got := reason(errors.New("short")); got != "short" {
		t.Errorf("reason(short) = %q", got)
	}
}
