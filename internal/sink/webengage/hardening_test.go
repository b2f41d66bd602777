package webengage

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
)

// A 401, 403 or 404 (a rotated key, a wrong URL) holds the batch — no
// delivery is failed towards the dead-letter queue — and is counted for an
// alert; once the API takes the key again the held batch goes through. On
// 470972f every delivery was failed permanently (dead-lettered).
func TestConfigErrorHoldsTheBatch(t *testing.T) {
	for _, code := range []int{401, 403, 404} {
		st := newStub(t)
		st.rule = func(map[string]any) *plan { return &plan{code: code, body: `{"response":{"status":"error"}}`} }
		reg := prometheus.NewRegistry()
		s := newSink(t, config(st), reg)
		h := handler(t, s, eventsQ)
		batch := []broker.Delivery{event("0"), event("1")}
		err := h.Handle(context.Background(), batch)
		var fm *broker.FailedMessages
		var ce *ConfigError
		if err == nil || errors.As(err, &fm) || fault.IsPermanent(err) || !errors.As(err, &ce) || ce.Code != code {
			t.Fatalf("%d: err = %v; want a transient error holding the batch", code, err)
		}
		if got := len(st.requests()); got != 2 {
			t.Fatalf("%d: %d requests, want 2 (a refused key is not retried in process)", code, got)
		}
		if got := testutil.ToFloat64(s.m.configErrors.WithLabelValues("events", "main", strconv.Itoa(code))); got != 2 {
			t.Fatalf("%d: config errors counted %v, want 2", code, got)
		}
		st.mu.Lock()
		st.rule = nil
		st.mu.Unlock()
		if err := h.Handle(context.Background(), batch); err != nil {
			t.Fatalf("%d: after the key is fixed: %v", code, err)
		}
		if acc := st.accepted("userId"); acc["u_0"] != 1 || acc["u_1"] != 1 {
			t.Fatalf("%d: accepted %v", code, acc)
		}
	}
}

// Two deliveries with one message id but different bodies are both sent:
// the memory of sent calls is keyed on content. On 470972f the second was
// skipped as "sent before".
func TestSameIDDifferentBodiesBothSent(t *testing.T) {
	st := newStub(t)
	s := newSink(t, config(st), nil)
	h := handler(t, s, eventsQ)
	a, b := event("a"), event("b")
	b.ID = a.ID
	if err := h.Handle(context.Background(), []broker.Delivery{a}); err != nil {
		t.Fatal(err)
	}
	if err := h.Handle(context.Background(), []broker.Delivery{b}); err != nil {
		t.Fatal(err)
	}
	if acc := st.accepted("userId"); acc["u_a"] != 1 || acc["u_b"] != 1 {
		t.Fatalf("accepted %v; want both bodies once", acc)
	}
	// The same body again (a redelivery) is still not sent twice.
	if err := h.Handle(context.Background(), []broker.Delivery{a}); err != nil {
		t.Fatal(err)
	}
	if n := len(st.requests()); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}
