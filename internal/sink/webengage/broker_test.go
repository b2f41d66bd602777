package webengage

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/broker/jetstream"
	"github.com/event-grpc/event-grpc/internal/component/componenttest"
	policy "github.com/event-grpc/event-grpc/internal/consume"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// Through the real embedded JetStream broker and the default topology: an
// event published to webengage_event.dx with key api_event reaches the API
// once; one the API refuses with 400 is retried max_retries times and then
// lands in the error queue with the reason.
func TestThroughJetStream(t *testing.T) {
	ctx := context.Background()
	top := topology.Default()
	b, err := jetstream.New(jetstream.Config{DataDir: t.TempDir(), Topology: top})
	componenttest.Start(t, ctx, b, err)

	st := newStub(t)
	st.rule = func(body map[string]any) *plan {
		if body["eventName"] == "Blocked Event" {
			return &plan{code: 400, body: `{"response":{"status":"error","message":"event name Blocked Event is not allowed"}}`}
		}
		return nil
	}
	s := newSink(t, config(st), prometheus.NewRegistry())
	q, ok := top.Queue("webengage_event_q")
	if !ok {
		t.Fatal("no webengage_event_q")
	}
	h := handler(t, s, q)
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- policy.Run(cctx, b, q, h.Handle) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consume: %v", err)
		}
	}()

	msgs := []broker.Message{
		{ID: "we-ok-1", RoutingKey: "api_event", ContentType: "application/json",
			Body: []byte(`{"userId":"u_ok","eventName":"Added To Cart","eventTime":"2024-06-10T14:00:15+0530","eventData":{"price":2199}}`)},
		{ID: "we-bad-1", RoutingKey: "api_event", ContentType: "application/json",
			Body: []byte(`{"userId":"u_bad","eventName":"Blocked Event"}`)},
	}
	if err := b.Publish(ctx, "webengage_event.dx", msgs); err != nil {
		t.Fatal(err)
	}

	var dead []broker.Delivery
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, ds, err := b.Peek(ctx, q.ErrorQueue(), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) > 0 {
			dead = ds
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing reached %s; requests: %+v", q.ErrorQueue(), st.requests())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(dead) != 1 || dead[0].ID != "we-bad-1" {
		t.Fatalf("dead letters %+v", dead)
	}
	reason := dead[0].Headers[broker.HeaderErrorReason]
	if !strings.Contains(reason, "webengage 400") || !strings.Contains(reason, "is not allowed") {
		t.Fatalf("x-error-reason %q", reason)
	}
	if acc := st.accepted("userId"); acc["u_ok"] != 1 || len(acc) != 1 {
		t.Fatalf("accepted %v, want u_ok once", acc)
	}
	bad := 0
	for _, r := range st.requests() {
		if r.body["userId"] == "u_bad" {
			bad++
		}
	}
	if bad != q.MaxRetries+1 {
		t.Fatalf("the refused event was sent %d times, want %d (1 + max_retries)", bad, q.MaxRetries+1)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		n, _, err := b.Peek(ctx, q.Name, 0)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still holds %d messages", q.Name, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
