package rabbitmq

import (
	"strconv"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/event-grpc/event-grpc/internal/broker"
)

func TestHeaderString(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"string", "abc", "abc"},
		{"bytes", []byte("raw"), "raw"},
		{"nil", nil, ""},
		{"bool", true, "true"},
		{"int8", int8(-3), "-3"},
		{"int16", int16(300), "300"},
		{"int32", int32(2), "2"},
		{"int64", int64(1700000000123), "1700000000123"},
		{"int", 7, "7"},
		{"uint8", uint8(255), "255"},
		{"uint16", uint16(65535), "65535"},
		{"uint32", uint32(4000000000), "4000000000"},
		{"float32", float32(1.5), "1.5"},
		{"float64", 0.1, "0.1"},
		{"decimal", amqp.Decimal{Scale: 2, Value: 12345}, "123.45"},
		{"negative decimal", amqp.Decimal{Scale: 1, Value: -5}, "-0.5"},
		{"time", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), "2024-01-02T03:04:05Z"},
		{"table", amqp.Table{"a": int32(1), "b": "x"}, `{"a":1,"b":"x"}`},
		{"array", []any{int64(1), "two", []byte("3")}, `[1,"two","3"]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := headerString(tc.in); got != tc.want {
				t.Fatalf("headerString(%#v) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestHeadersToTable(t *testing.T) {
	tb := headersToTable(map[string]string{broker.HeaderRetryCount: "3", "k": "v", broker.HeaderInsertTime: "1700000000000"})
	if v, ok := tb[broker.HeaderRetryCount].(int32); !ok || v != 3 {
		t.Errorf("x-retry-count = %#v, want int32 3", tb[broker.HeaderRetryCount])
	}
	if tb["k"] != "v" || tb[broker.HeaderInsertTime] != "1700000000000" {
		t.Errorf("table = %v", tb)
	}
	if err := tb.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if headersToTable(nil) != nil {
		t.Error("nil headers should give a nil table")
	}
	// A malformed count stays a string rather than being lost.
	if tb := headersToTable(map[string]string{broker.HeaderRetryCount: "x"}); tb[broker.HeaderRetryCount] != "x" {
		t.Errorf("malformed x-retry-count = %#v", tb[broker.HeaderRetryCount])
	}
}

func TestToDelivery(t *testing.T) {
	ts := time.Unix(1700000000, 0)
	tests := []struct {
		name            string
		d               amqp.Delivery
		wantEx, wantKey string
		wantRetry       int
	}{
		{"first delivery", amqp.Delivery{Exchange: "grpc_event.tx", RoutingKey: "ClickEvent"}, "grpc_event.tx", "ClickEvent", 0},
		{"retried through the default exchange", amqp.Delivery{Exchange: "", RoutingKey: "q",
			Headers: amqp.Table{broker.HeaderOriginalExchange: "grpc_event.tx", broker.HeaderOriginalRoutingKey: "ClickEvent", broker.HeaderRetryCount: int32(2)}},
			"grpc_event.tx", "ClickEvent", 2},
		{"count from another client as int64", amqp.Delivery{Exchange: "x", RoutingKey: "k",
			Headers: amqp.Table{broker.HeaderRetryCount: int64(1)}}, "x", "k", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.d.Timestamp, tc.d.Body, tc.d.ContentType, tc.d.Redelivered, tc.d.DeliveryTag = ts, []byte("b"), "application/json", true, 7
			got := toDelivery("q", &tc.d)
			// The count travels as a decimal header; the consume runner
			// reads it (transports do not count).
			wantHeader := ""
			if tc.wantRetry > 0 {
				wantHeader = strconv.Itoa(tc.wantRetry)
			}
			if got.Exchange != tc.wantEx || got.RoutingKey != tc.wantKey || got.Headers[broker.HeaderRetryCount] != wantHeader {
				t.Fatalf("got exchange %q key %q x-retry-count %q", got.Exchange, got.RoutingKey, got.Headers[broker.HeaderRetryCount])
			}
			if got.Tag != tc.d.DeliveryTag {
				t.Fatalf("tag %d, want the delivery tag %d", got.Tag, tc.d.DeliveryTag)
			}
			if got.Queue != "q" || string(got.Body) != "b" || got.ContentType != "application/json" || !got.Redelivered || !got.Published.Equal(ts) {
				t.Fatalf("got %+v", got)
			}
		})
	}
}
