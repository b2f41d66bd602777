package pipeline

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/broker/jetstream"
	"github.com/event-grpc/event-grpc/internal/component/componenttest"
	"github.com/event-grpc/event-grpc/internal/event"
	"github.com/event-grpc/event-grpc/internal/topology"
)

const eventQueue = "grpc_clickhouse_event_q"

// newJetStream starts the embedded broker (fsync before ack, the default)
// on the seed topology.
func newJetStream(t *testing.T) *jetstream.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := jetstream.New(jetstream.Config{DataDir: t.TempDir(), Topology: topology.Default()})
	componenttest.Start(t, ctx, b, err)
	return b
}

// allTypes returns one event of each type of the eventOf oneof (a
// CustomEvent named "n<i>"), in the proto's order.
func allTypes(t *testing.T) []*eventgrpcv1.Event {
	t.Helper()
	fields := (&eventgrpcv1.Event{}).ProtoReflect().Descriptor().Oneofs().ByName("eventOf").Fields()
	var out []*eventgrpcv1.Event
	for i := range fields.Len() {
		ev := &eventgrpcv1.Event{Timestamp: ms(now)}
		m := ev.ProtoReflect()
		fd := fields.Get(i)
		m.Set(fd, m.NewField(fd))
		if c := ev.GetCustomEvent(); c != nil {
			c.Name = "n1"
		}
		out = append(out, ev)
	}
	return out
}

// queued returns what queue holds: its message count and the events of
// its messages (up to 100).
func queued(t *testing.T, b *jetstream.Broker, queue string) (int, []broker.Delivery, int) {
	t.Helper()
	n, sample, err := b.Peek(context.Background(), queue, 100)
	if err != nil {
		t.Fatal(err)
	}
	events := 0
	for _, d := range sample {
		parts, err := event.Decode(d.Body)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			events += len(p.GetEvents())
		}
	}
	return n, sample, events
}

// A 50-event request of 40 types is one message on the event queue: the
// broker routes at publish time, so events are packed per destination
// queue, not per type; each typed queue gets its own message.
func TestPacksPerDestinationQueue(t *testing.T) {
	b := newJetStream(t)
	for _, linger := range []time.Duration{0, 2 * time.Millisecond} {
		t.Run(fmt.Sprintf("linger=%v", linger), func(t *testing.T) {
			p := newTest(t, b, func(c *Config) {
				c.Linger, c.MaxMessageEvents, c.Now = linger, 1000, time.Now
			})
			types := allTypes(t)
			if len(types) < 40 {
				t.Fatalf("only %d event types", len(types))
			}
			before, _, _ := queued(t, b, eventQueue)
			var evs []*eventgrpcv1.Event
			for i := range 50 {
				ev := proto.Clone(types[i%40]).(*eventgrpcv1.Event)
				ev.Timestamp = ms(time.Now())
				evs = append(evs, ev)
			}
			resp, err := p.Dispatch(context.Background(), SourceGRPC, &eventgrpcv1.Events{Header: &eventgrpcv1.Header{UserId: "u"}, Events: evs})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Accepted != 50 {
				t.Fatalf("accepted %d of 50: %v", resp.Accepted, resp.Results)
			}
			n, sample, events := queued(t, b, eventQueue)
			if n-before != 1 {
				t.Fatalf("the event queue got %d messages for one request, want 1", n-before)
			}
			last := sample[len(sample)-1]
			parts, err := event.Decode(last.Body)
			if err != nil || len(parts) != 1 || len(parts[0].GetEvents()) != 50 || parts[0].GetHeader().GetUserId() != "u" {
				t.Fatalf("the message holds %d parts (%v), want one of 50 events with the header", len(parts), err)
			}
			_ = events
			// Every typed queue a type routes to got exactly one message.
			top := topology.Default()
			want := map[string]int{}
			for _, ev := range evs[:40] {
				name, _ := typeName(ev)
				key := name
				if ev.GetCustomEvent() != nil {
					key += "." + ev.GetCustomEvent().GetName()
				}
				for _, q := range top.Routes("grpc_event.tx", key) {
					want[q]++
				}
			}
			for q := range want {
				if q == eventQueue {
					continue
				}
				// Earlier subtests left their message there too.
				n, _, _ := queued(t, b, q)
				if n == 0 || n > 2 {
					t.Errorf("typed queue %s holds %d messages after two requests, want one per request", q, n)
				}
			}
		})
	}
}

// A request of 20 events of 60 KB each (1.2 MB, over NATS's 1 MiB max
// payload, each event within every per-event limit) is accepted whole: the
// pipeline splits it below the broker's limit.
func TestSplitsBelowTheBrokersLimit(t *testing.T) {
	b := newJetStream(t)
	p := newTest(t, b, func(c *Config) {
		c.Linger, c.MaxMessageEvents, c.Now = 2*time.Millisecond, 1000, time.Now
		c.MaxEventBytes, c.MaxStringLength, c.MaxParams, c.MaxMessageBytes = 64<<10, 8<<10, 100, 8<<20
	})
	evs := make([]*eventgrpcv1.Event, 20)
	for i := range evs {
		params := map[string]string{}
		for k := range 10 {
			params[fmt.Sprintf("p%d", k)] = strings.Repeat("x", 6000)
		}
		evs[i] = &eventgrpcv1.Event{Timestamp: ms(time.Now()), EventOf: &eventgrpcv1.Event_CustomEvent{CustomEvent: &eventgrpcv1.CustomEvent{Name: "big", Params: params}}}
	}
	// A small request coalesced with it is not failed by it.
	var small *eventgrpcv1.Response
	var smallErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		small, smallErr = p.Dispatch(context.Background(), SourceHTTP, &eventgrpcv1.Events{Events: []*eventgrpcv1.Event{launch("", ms(time.Now()))}})
	})
	resp, err := p.Dispatch(context.Background(), SourceHTTP, &eventgrpcv1.Events{Events: evs})
	wg.Wait()
	if err != nil {
		t.Fatalf("1.2 MB request: %v", err)
	}
	if resp.Accepted != 20 {
		t.Fatalf("accepted %d of 20: %v", resp.Accepted, resp.Results[0])
	}
	if smallErr != nil || small.Accepted != 1 {
		t.Fatalf("the small request beside it: %v %v", small, smallErr)
	}
	n, sample, events := queued(t, b, eventQueue)
	if n < 2 || events != 21 {
		t.Fatalf("event queue: %d messages holding %d events, want ≥2 holding 21", n, events)
	}
	for _, d := range sample {
		if len(d.Body) > b.MaxMessageBytes() {
			t.Fatalf("a message of %d bytes exceeds the limit %d", len(d.Body), b.MaxMessageBytes())
		}
	}
}

// An event that cannot fit any message is rejected by index, naming the
// limit; the rest of the request goes on.
func TestEventTooLargeForAnyMessageIsRejectedByIndex(t *testing.T) {
	b := newJetStream(t)
	p := newTest(t, b, func(c *Config) {
		c.Now, c.MaxMessageBytes, c.MaxEventBytes, c.MaxStringLength = time.Now, 20_000, 64<<10, 64<<10
	})
	big := &eventgrpcv1.Event{Timestamp: ms(time.Now()), EventOf: &eventgrpcv1.Event_CustomEvent{CustomEvent: &eventgrpcv1.CustomEvent{Name: "big", Params: map[string]string{"x": strings.Repeat("y", 30_000)}}}}
	resp, err := p.Dispatch(context.Background(), SourceGRPC, &eventgrpcv1.Events{Events: []*eventgrpcv1.Event{launch("", ms(time.Now())), big}})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Results[0].Accepted || resp.Results[1].Accepted || !strings.Contains(resp.Results[1].Reason, "20000 bytes") {
		t.Fatalf("results %v", resp.Results)
	}
}

// fanout is a Publisher that counts calls and the most running at once.
type fanout struct {
	mu            sync.Mutex
	calls, msgs   int
	running, peak int
	release       chan struct{}
}

func (f *fanout) Publish(ctx context.Context, exchange string, msgs []broker.Message) error {
	f.mu.Lock()
	f.calls++
	f.msgs += len(msgs)
	f.running++
	f.peak = max(f.peak, f.running)
	f.mu.Unlock()
	<-f.release
	f.mu.Lock()
	f.running--
	f.mu.Unlock()
	return nil
}

// A request holding 1000 CustomEvent names (1000 routing keys on
// RabbitMQ) is published in one Publish call by its worker: no goroutine
// per group, however many names.
func TestFanOutIsBounded(t *testing.T) {
	for _, linger := range []time.Duration{0, time.Millisecond} {
		t.Run(fmt.Sprintf("linger=%v", linger), func(t *testing.T) {
			f := &fanout{release: make(chan struct{})}
			p := newTest(t, f, func(c *Config) { c.Linger, c.MaxEvents = linger, 1000 })
			evs := make([]*eventgrpcv1.Event, 1000)
			for i := range evs {
				evs[i] = &eventgrpcv1.Event{Timestamp: ms(now), EventOf: &eventgrpcv1.Event_CustomEvent{CustomEvent: &eventgrpcv1.CustomEvent{Name: fmt.Sprintf("n%d", i)}}}
			}
			base := runtime.NumGoroutine()
			done := make(chan *eventgrpcv1.Response)
			go func() {
				resp, _ := p.Dispatch(context.Background(), SourceGRPC, &eventgrpcv1.Events{Events: evs})
				done <- resp
			}()
			deadline := time.Now().Add(10 * time.Second)
			for {
				f.mu.Lock()
				calls := f.calls
				f.mu.Unlock()
				if calls > 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(time.Millisecond)
			}
			if g := runtime.NumGoroutine() - base; g > 3 {
				t.Errorf("%d more goroutines while the request publishes", g)
			}
			close(f.release)
			resp := <-done
			if resp == nil || resp.Accepted != 1000 {
				t.Fatalf("response %v", resp)
			}
			if f.calls != 1 || f.msgs != 1000 || f.peak != 1 {
				t.Fatalf("%d Publish calls (peak %d at once) for %d messages; want 1 call of 1000", f.calls, f.peak, f.msgs)
			}
		})
	}
}
