package pipeline

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/broker/rabbitmq"
	"github.com/event-grpc/event-grpc/internal/topology"
)

const rabbitURL = "amqp://guest:guest@127.0.0.1:5672/"

// newRabbit connects to the machine's RabbitMQ with a topology of its own
// (one topic exchange, one queue bound to every key), deleted afterwards.
func newRabbit(t *testing.T) (*rabbitmq.Broker, *topology.Topology, func() int) {
	t.Helper()
	sfx := fmt.Sprintf("%d", time.Now().UnixNano())
	ex, q := "test.ingest.tx."+sfx, "test.ingest.q."+sfx
	top := &topology.Topology{
		ErrorExchange: "test.ingest.err." + sfx,
		Exchanges: []topology.Exchange{
			{Name: ex, Kind: topology.KindTopic},
			{Name: "test.ingest.err." + sfx, Kind: topology.KindDirect},
		},
		Queues: []topology.Queue{{
			Name: q, Bindings: []topology.Binding{{Exchange: ex, Key: "#"}},
			Consumers: 1, Prefetch: 10, MaxRetries: 2, Handler: topology.HandlerJSON, Tables: []string{"t"},
			Batch: topology.Batch{MaxMessages: 10, MaxBytes: 1 << 20, MaxWait: time.Second},
		}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := rabbitmq.New(ctx, rabbitmq.Config{URL: rabbitURL, Topology: top})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := amqp.Dial(rabbitURL)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.Close(context.Background())
		ch.QueueDelete(q, false, false, false)
		ch.QueueDelete(q+".error", false, false, false)
		for _, e := range top.Exchanges {
			ch.ExchangeDelete(e.Name, false, false)
		}
		conn.Close()
	})
	depth := func() int {
		st, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		return st.Messages
	}
	return b, top, depth
}

// An over-long CustomEvent name (its routing key would pass the AMQP
// short-string limit and close the connection) is rejected at the edge by
// index, naming the field; the request's other events and later requests
// are published as usual.
func TestOverlongCustomNameIsRejectedAndOthersPublish(t *testing.T) {
	b, top, depth := newRabbit(t)
	p := newTest(t, b, func(c *Config) { c.Exchange, c.Now = top.Exchanges[0].Name, time.Now })
	long := &eventgrpcv1.Event{Timestamp: ms(time.Now()), EventOf: &eventgrpcv1.Event_CustomEvent{CustomEvent: &eventgrpcv1.CustomEvent{Name: strings.Repeat("word", 70)}}}
	resp, err := p.Dispatch(context.Background(), SourceGRPC, &eventgrpcv1.Events{Events: []*eventgrpcv1.Event{launch("", ms(time.Now())), long}})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Results[0].Accepted || resp.Results[1].Accepted || !strings.Contains(resp.Results[1].Reason, "CustomEvent.name") {
		t.Fatalf("results %v", resp.Results)
	}
	resp, err = p.Dispatch(context.Background(), SourceGRPC, &eventgrpcv1.Events{Events: []*eventgrpcv1.Event{launch("", ms(time.Now()))}})
	if err != nil || resp.Accepted != 1 {
		t.Fatalf("the next request: %v %v", resp, err)
	}
	if n := depth(); n != 2 {
		t.Fatalf("queue holds %d messages, want 2", n)
	}
}

// On RabbitMQ (routing key = type) concurrent requests of one type share
// a message within the linger.
func TestCoalescesAcrossRequestsOnRabbitMQ(t *testing.T) {
	b, top, depth := newRabbit(t)
	p := newTest(t, b, func(c *Config) {
		c.Exchange, c.Now, c.Linger, c.Workers, c.Queue = top.Exchanges[0].Name, time.Now, 50*time.Millisecond, 8, 16
	})
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			resp, err := p.Dispatch(context.Background(), SourceGRPC, &eventgrpcv1.Events{Events: []*eventgrpcv1.Event{launch("", ms(time.Now())), launch("", ms(time.Now()))}})
			if err == nil && resp.Accepted != 2 {
				err = fmt.Errorf("accepted %d of 2", resp.Accepted)
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := depth(); n >= 8 {
		t.Fatalf("8 concurrent requests of one type made %d messages; want them coalesced", n)
	}
}
