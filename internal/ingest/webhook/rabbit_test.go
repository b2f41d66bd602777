package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/broker/rabbitmq"
	"github.com/event-grpc/event-grpc/internal/component/componenttest"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// rabbitEnv is the real RabbitMQ server at 127.0.0.1:5672 seen through a
// vhost of the test's own, with the default topology declared.
type rabbitEnv struct {
	url    string
	broker *rabbitmq.Broker
	conn   *amqp.Connection // raw, for inspecting queues
}

var vhostSeq atomic.Int64

func rabbitctl(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command("rabbitmqctl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("rabbitmqctl %v: %v\n%s", args, err, out)
	}
}

func newRabbitEnv(t testing.TB) *rabbitEnv {
	t.Helper()
	vh := fmt.Sprintf("egwebhook_%d_%d", time.Now().UnixNano(), vhostSeq.Add(1))
	rabbitctl(t, "add_vhost", vh)
	t.Cleanup(func() { exec.Command("rabbitmqctl", "delete_vhost", vh).Run() })
	rabbitctl(t, "set_permissions", "-p", vh, "guest", ".*", ".*", ".*")
	r := &rabbitEnv{url: rabbitmq.URL("127.0.0.1", 5672, "guest", "guest", vh)}
	ctx := context.Background()
	b, err := rabbitmq.New(rabbitmq.Config{URL: r.url, Topology: topology.Default(), Logger: slog.New(slog.DiscardHandler)})
	componenttest.Start(t, ctx, b, err)
	r.broker = b
	conn, err := amqp.Dial(r.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	r.conn = conn
	return r
}

func (r *rabbitEnv) depth(t testing.TB, queue string) int {
	t.Helper()
	ch, err := r.conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		t.Fatalf("queue %s: %v", queue, err)
	}
	return q.Messages
}

// get takes one message of queue off the server (nil when it is empty).
func (r *rabbitEnv) get(t testing.TB, queue string) *amqp.Delivery {
	t.Helper()
	ch, err := r.conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	d, ok, err := ch.Get(queue, true)
	if err != nil {
		t.Fatalf("get %s: %v", queue, err)
	}
	if !ok {
		return nil
	}
	return &d
}

// alive proves the service's RabbitMQ connection still publishes: a probe
// message lands in beat's queue.
func (r *rabbitEnv) alive(t testing.TB) {
	t.Helper()
	err := r.broker.Publish(context.Background(), "grpc_event.dx", []broker.Message{{RoutingKey: "click", ContentType: "application/octet-stream", Body: []byte("probe")}})
	if err != nil {
		t.Fatalf("publishing on the service's connection after the request: %v", err)
	}
}

// Every string that reaches an AMQP frame is checked at the edge: a Graphy
// event type of four 64-byte words (a 259-byte routing key) or a Shopify
// webhook id or header name over 255 bytes is refused with 400 naming the
// field — and the service's connection stays open, so the next request
// lands. On 470972f the first request closed the connection.
func TestRabbitMQFrameLimits(t *testing.T) {
	e := newEnv(t, envOpts{cfg: secretConfig(), rabbit: true})
	long4 := strings.Repeat("a", 64) + "." + strings.Repeat("b", 64) + "." + strings.Repeat("c", 64) + "." + strings.Repeat("d", 64)
	graphyBody := func(event string) []byte {
		return []byte(`{"id":"g1","event":"` + event + `","timestamp":"2024-06-10T08:30:16Z","learner":{"id":"l1"}}`)
	}
	tok := map[string]string{TokenHeader: tokenSecret}

	a := e.post("/graphy/event", nil, graphyBody(long4), tok)
	if a.code != http.StatusBadRequest || !strings.Contains(a.body, "event field") || !strings.Contains(a.body, "routing key") {
		t.Fatalf("259-byte routing key: %d %s; want 400 naming the event field", a.code, a.body)
	}
	e.rabbit.alive(t)

	body := sample(t, "shopify/orders_create.json")
	h := shopifyHeaders(t, body, shopifySecret)
	h[HeaderShopifyWebhookID] = strings.Repeat("w", 250) // + its digest: over 255
	if a := e.post("/shopify/event", nil, body, h); a.code != http.StatusBadRequest || !strings.Contains(a.body, HeaderShopifyWebhookID) {
		t.Fatalf("long webhook id: %d %s; want 400 naming %s", a.code, a.body, HeaderShopifyWebhookID)
	}
	h = shopifyHeaders(t, body, shopifySecret)
	h["X-Shopify-"+strings.Repeat("n", 300)] = "v"
	if a := e.post("/shopify/event", nil, body, h); a.code != http.StatusBadRequest || !strings.Contains(a.body, "header name") {
		t.Fatalf("long header name: %d %s; want 400 naming the header", a.code, a.body)
	}
	e.rabbit.alive(t)

	if a := e.post("/graphy/event", nil, graphyBody("course.enrolled"), tok); a.code != http.StatusOK {
		t.Fatalf("a good request after the refusals: %d %s", a.code, a.body)
	}
	if n := e.count("graphy_event_q"); n != 1 {
		t.Fatalf("graphy_event_q holds %d messages, want 1", n)
	}
}

// The transport refuses what it cannot frame, message by message, so a
// replayed dead letter or a service's message with an over-long routing
// key, id or header name never closes the connection either.
func TestRabbitMQPublishRefusesUnframable(t *testing.T) {
	r := newRabbitEnv(t)
	long := strings.Repeat("k", 256)
	for _, m := range []broker.Message{
		{RoutingKey: long, Body: []byte("x")},
		{RoutingKey: "click", ID: long, Body: []byte("x")},
		{RoutingKey: "click", Headers: map[string]string{long: "v"}, Body: []byte("x")},
	} {
		err := r.broker.Publish(context.Background(), "grpc_event.dx", []broker.Message{m, {RoutingKey: "click", Body: []byte("ok")}})
		var pe *broker.PublishError
		if !asPublishError(err, &pe) || len(pe.Failed) != 1 || pe.Failed[0] == nil || !strings.Contains(pe.Failed[0].Error(), "255") {
			t.Fatalf("publish of an unframable message: %v; want only it refused, naming the limit", err)
		}
		r.alive(t)
	}
	if n := r.depth(t, "clickhouse_click_event_q"); n < 6 {
		t.Fatalf("click_event_q holds %d messages, want the 3 good ones and 3 probes (clickhouse_click_event_q)", n)
	}
}

func asPublishError(err error, pe **broker.PublishError) bool { return errors.As(err, pe) }
