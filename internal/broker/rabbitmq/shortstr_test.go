package rabbitmq

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
)

// A string longer than an AMQP short string (routing key, message id,
// header name) fails that message alone, permanently, naming the field;
// the connection stays up and the other messages land.
func TestOverlongShortStringsFailTheMessageNotTheConnection(t *testing.T) {
	top, b, _, srv := setup(t)
	ex, q := top.Exchanges[0].Name, top.Queues[0].Name
	long := "a." + strings.Repeat("x", 300)
	msgs := []broker.Message{
		{ID: "ok1", RoutingKey: "a.ev", Body: []byte("1")},
		{ID: "long-key", RoutingKey: long, Body: []byte("2")},
		{ID: strings.Repeat("i", 300), RoutingKey: "a.ev", Body: []byte("3")},
		{ID: "long-header", RoutingKey: "a.ev", Headers: map[string]string{strings.Repeat("h", 300): "v"}, Body: []byte("4")},
		{ID: "ok2", RoutingKey: "a.ev", Body: []byte("5")},
	}
	err := b.Publish(context.Background(), ex, msgs)
	var pe *broker.PublishError
	if !errors.As(err, &pe) || len(pe.Failed) != 3 {
		t.Fatalf("Publish = %v, want messages 1-3 failed", err)
	}
	for i, field := range map[int]string{1: "routing key", 2: "message id", 3: "header name"} {
		if e := pe.Failed[i]; e == nil || !fault.IsPermanent(e) || !strings.Contains(e.Error(), field) || !strings.Contains(e.Error(), "255") {
			t.Errorf("message %d: %v, want a permanent error naming the %s and the limit", i, e, field)
		}
	}
	if got := srv.depth(q); got != 2 {
		t.Fatalf("queue depth %d, want the 2 good messages", got)
	}
	// The connection was not closed: later publishes go through.
	if err := b.Publish(context.Background(), ex, []broker.Message{{ID: "ok3", RoutingKey: "a.ev", Body: []byte("6")}}); err != nil {
		t.Fatalf("publish after: %v", err)
	}
	if got := srv.depth(q); got != 3 {
		t.Fatalf("queue depth %d, want 3", got)
	}
}
