package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"google.golang.org/protobuf/proto"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/broker/rabbitmq"
	"github.com/event-grpc/event-grpc/internal/component/componenttest"
	"github.com/event-grpc/event-grpc/internal/event"
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
	b, err := rabbitmq.New(rabbitmq.Config{URL: rabbitURL, Topology: top})
	componenttest.Start(t, ctx, b, err)
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

// vhostSeq keeps the vhosts of one process's tests apart.
var vhostSeq atomic.Int64

// seedRabbit is the built-in topology on a RabbitMQ vhost of the test's
// own (deleted afterwards), with a queue that a consumer outside the
// topology bound to grpc_event.tx with key LaunchEvent.
type seedRabbit struct {
	b  *rabbitmq.Broker
	ch *amqp.Channel
}

const thirdPartyQueue = "someone_elses_launch_q"

func newSeedRabbit(t *testing.T, typed ...string) *seedRabbit {
	t.Helper()
	vh := fmt.Sprintf("egpack_%d_%d", time.Now().UnixNano(), vhostSeq.Add(1))
	ctl := func(args ...string) {
		if out, err := exec.Command("rabbitmqctl", args...).CombinedOutput(); err != nil {
			t.Fatalf("rabbitmqctl %v: %v\n%s", args, err, out)
		}
	}
	ctl("add_vhost", vh)
	t.Cleanup(func() { _ = exec.Command("rabbitmqctl", "delete_vhost", vh).Run() })
	ctl("set_permissions", "-p", vh, "guest", ".*", ".*", ".*")
	url := rabbitmq.URL("127.0.0.1", 5672, "guest", "guest", vh)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := rabbitmq.New(rabbitmq.Config{URL: url, Topology: topology.Default(), TypedExchanges: typed, Logger: slog.New(slog.DiscardHandler)})
	componenttest.Start(t, ctx, b, err)
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(thirdPartyQueue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(thirdPartyQueue, "LaunchEvent", "grpc_event.tx", false, nil); err != nil {
		t.Fatal(err)
	}
	return &seedRabbit{b: b, ch: ch}
}

// drained is what a queue held.
type drained struct {
	msgs   int
	ids    []string          // the event ids, one per event copy, sorted
	keys   []string          // each message's routing key as its consumer reads it
	types  []map[string]bool // each message's event types
	events int
}

// drain takes every message of queue off it.
func (s *seedRabbit) drain(t *testing.T, queue string) drained {
	t.Helper()
	var d drained
	for {
		m, ok, err := s.ch.Get(queue, true)
		if err != nil {
			t.Fatalf("get %s: %v", queue, err)
		}
		if !ok {
			break
		}
		d.msgs++
		key := m.RoutingKey
		if v, ok := m.Headers["x-original-routing-key"].(string); ok {
			key = v
		}
		d.keys = append(d.keys, key)
		parts, err := event.Decode(m.Body)
		if err != nil {
			t.Fatalf("%s: %v", queue, err)
		}
		types := map[string]bool{}
		for _, p := range parts {
			for _, ev := range p.GetEvents() {
				d.ids = append(d.ids, ev.GetId())
				name, _ := typeName(ev)
				types[name] = true
				d.events++
			}
		}
		d.types = append(d.types, types)
	}
	slices.Sort(d.ids)
	return d
}

// mixedRequest is 50 events of 40 types (CustomEvent named n1).
func mixedRequest(t *testing.T) []*eventgrpcv1.Event {
	types := allTypes(t)
	if len(types) < 40 {
		t.Fatalf("only %d event types", len(types))
	}
	evs := make([]*eventgrpcv1.Event, 50)
	for i := range evs {
		evs[i] = proto.Clone(types[i%40]).(*eventgrpcv1.Event)
		evs[i].Timestamp = ms(time.Now())
	}
	return evs
}

// routingKey is the key an event is routed by on grpc_event.tx.
func routingKey(ev *eventgrpcv1.Event) string {
	name, _ := typeName(ev)
	if c := ev.GetCustomEvent(); c != nil {
		return name + "." + c.GetName()
	}
	return name
}

// wantPerQueue is, per queue of the built-in topology, the sorted ids of
// the events of evs (accepted as resp says) that reach it.
func wantPerQueue(t *testing.T, evs []*eventgrpcv1.Event, resp *eventgrpcv1.Response) map[string][]string {
	t.Helper()
	top := topology.Default()
	want := map[string][]string{}
	for i, ev := range evs {
		if !resp.Results[i].Accepted {
			t.Fatalf("event %d rejected: %s", i, resp.Results[i].Reason)
		}
		for _, q := range top.Routes("grpc_event.tx", routingKey(ev)) {
			want[q] = append(want[q], resp.Results[i].EventId)
		}
	}
	for q := range want {
		slices.Sort(want[q])
	}
	return want
}

// The promise to consumers outside the topology, on real RabbitMQ and the
// built-in topology. With grpc_event.tx named typed (RABBIT_TYPED_EXCHANGES)
// a queue someone else bound to it with key LaunchEvent receives exactly
// the LaunchEvents of a mixed request, one type per message with the type
// as routing key, and each of the service's queues every event bound for it
// exactly once. By default (packed) the service's queues receive packed
// messages — one per queue for the request, every event exactly once — and
// the outside queue nothing, as docs say.
func TestOutsideConsumerAndPackingOnRabbitMQ(t *testing.T) {
	for _, mode := range []string{"typed", "packed"} {
		t.Run(mode, func(t *testing.T) {
			var typed []string
			if mode == "typed" {
				typed = []string{"grpc_event.tx"}
			}
			s := newSeedRabbit(t, typed...)
			p := newTest(t, s.b, func(c *Config) {
				c.Linger, c.MaxMessageEvents, c.Now, c.Exchange = 2*time.Millisecond, 1000, time.Now, "grpc_event.tx"
			})
			evs := mixedRequest(t)
			resp, err := p.Dispatch(context.Background(), SourceGRPC, &eventgrpcv1.Events{Header: &eventgrpcv1.Header{UserId: "u"}, Events: evs})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Accepted != 50 {
				t.Fatalf("accepted %d of 50", resp.Accepted)
			}
			want := wantPerQueue(t, evs, resp)
			if len(want) < 4 {
				t.Fatalf("the request reaches %d queues; the test needs a mix", len(want))
			}
			for q, ids := range want {
				got := s.drain(t, q)
				if !slices.Equal(got.ids, ids) {
					t.Errorf("queue %s holds events %v, want %v (each exactly once)", q, got.ids, ids)
				}
				switch mode {
				case "packed":
					if got.msgs != 1 {
						t.Errorf("queue %s got %d messages for one request, want 1 (packed per queue)", q, got.msgs)
					}
				case "typed":
					for k, types := range got.types {
						if len(types) != 1 {
							t.Errorf("queue %s: message %d holds types %v, want one", q, k, types)
						}
					}
				}
			}
			if mode == "packed" {
				if d := s.drain(t, eventQueue); d.msgs != 0 {
					t.Fatalf("drained twice")
				}
			}

			outside := s.drain(t, thirdPartyQueue)
			switch mode {
			case "typed":
				var launches []string
				for i, ev := range evs {
					if ev.GetLaunchEvent() != nil {
						launches = append(launches, resp.Results[i].EventId)
					}
				}
				slices.Sort(launches)
				if len(launches) == 0 || !slices.Equal(outside.ids, launches) {
					t.Errorf("the outside LaunchEvent queue holds %v, want exactly the LaunchEvents %v", outside.ids, launches)
				}
				for k, key := range outside.keys {
					if key != "LaunchEvent" || len(outside.types[k]) != 1 || !outside.types[k]["LaunchEvent"] {
						t.Errorf("outside message %d: key %q, types %v; want LaunchEvent only", k, key, outside.types[k])
					}
				}
			case "packed":
				if outside.msgs != 0 {
					t.Errorf("the outside queue got %d messages from a packed exchange, want none", outside.msgs)
				}
			}
		})
	}
}

// Concurrent mixed requests coalesce per destination queue: 16 requests of
// 50 events of 40 types reach the catch-all event queue as at least 100
// events per message (they were 40 messages per request, one per type),
// every event exactly once.
func TestEventsPerMessageOnRabbitMQ(t *testing.T) {
	s := newSeedRabbit(t)
	p := newTest(t, s.b, func(c *Config) {
		c.Linger, c.MaxMessageEvents, c.Now, c.Workers, c.Queue = 50*time.Millisecond, 1000, time.Now, 16, 16
	})
	const requests = 16
	gate := make(chan struct{})
	type result struct {
		evs  []*eventgrpcv1.Event
		resp *eventgrpcv1.Response
		err  error
	}
	results := make(chan result, requests)
	for range requests {
		evs := mixedRequest(t)
		go func() {
			<-gate
			resp, err := p.Dispatch(context.Background(), SourceGRPC, &eventgrpcv1.Events{Events: evs})
			results <- result{evs, resp, err}
		}()
	}
	close(gate)
	var want []string
	for range requests {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		want = append(want, wantPerQueue(t, r.evs, r.resp)[eventQueue]...)
	}
	slices.Sort(want)
	got := s.drain(t, eventQueue)
	if !slices.Equal(got.ids, want) {
		t.Fatalf("the event queue holds %d event copies, want each of %d exactly once", len(got.ids), len(want))
	}
	perMsg := float64(got.events) / float64(got.msgs)
	t.Logf("%d events in %d messages: %.0f per message", got.events, got.msgs, perMsg)
	if perMsg < 100 {
		t.Errorf("%d events in %d messages: %.0f per message, want ≥ 100", got.events, got.msgs, perMsg)
	}
}
