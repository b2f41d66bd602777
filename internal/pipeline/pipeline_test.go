package pipeline

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/event"
	"github.com/event-grpc/event-grpc/internal/fault"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a Publisher that keeps what it is given; fail makes it
// refuse with that error; block holds publishes until closed.
type recorder struct {
	mu      sync.Mutex
	msgs    []broker.Message
	fail    error
	block   chan struct{}
	started chan struct{}
}

func (r *recorder) Publish(ctx context.Context, exchange string, msgs []broker.Message) error {
	if r.started != nil {
		r.started <- struct{}{}
	}
	if r.block != nil {
		<-r.block
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.msgs = append(r.msgs, msgs...)
	return nil
}

func (r *recorder) events(t *testing.T) map[string][]*eventgrpcv1.Event {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]*eventgrpcv1.Event{}
	for _, m := range r.msgs {
		parts, err := event.Decode(m.Body)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			out[m.RoutingKey] = append(out[m.RoutingKey], p.GetEvents()...)
		}
	}
	return out
}

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func newTest(t *testing.T, pub broker.Publisher, mod func(*Config)) *Pipeline {
	cfg := Config{Workers: 2, Queue: 4, Linger: 0, MaxMessageEvents: 100, MaxEvents: 100,
		MaxPast: 24 * time.Hour, Exchange: "grpc_event.tx", Now: func() time.Time { return now }}
	if mod != nil {
		mod(&cfg)
	}
	p := must(New(cfg, pub))
	t.Cleanup(func() { p.Shutdown(context.Background()) })
	return p
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func launch(id, ts string) *eventgrpcv1.Event {
	return &eventgrpcv1.Event{Id: id, Timestamp: ts, EventOf: &eventgrpcv1.Event_LaunchEvent{LaunchEvent: &eventgrpcv1.LaunchEvent{}}}
}

func click(id, ts string) *eventgrpcv1.Event {
	return &eventgrpcv1.Event{Id: id, Timestamp: ts, EventOf: &eventgrpcv1.Event_ClickEvent{ClickEvent: &eventgrpcv1.ClickEvent{}}}
}

func TestGroupsByTypeAndReportsByIndex(t *testing.T) {
	rec := &recorder{}
	p := newTest(t, rec, nil)
	req := &eventgrpcv1.Events{
		Header: &eventgrpcv1.Header{SessionId: "s1", UserId: "u1"},
		Events: []*eventgrpcv1.Event{
			launch("a", ms(now)), click("b", ms(now)), {Id: "empty"}, launch("c", ms(now)),
			{Timestamp: ms(now), EventOf: &eventgrpcv1.Event_CustomEvent{CustomEvent: &eventgrpcv1.CustomEvent{Name: "video_quality", Params: map[string]string{"q": "hd"}}}},
		},
	}
	resp, err := p.Dispatch(context.Background(), SourceGRPC, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != eventgrpcv1.Status_STATUS_PARTIAL || resp.Accepted != 4 || resp.Rejected != 1 {
		t.Fatalf("status %v accepted %d rejected %d", resp.Status, resp.Accepted, resp.Rejected)
	}
	if r := resp.Results[2]; r.Accepted || !strings.Contains(r.Reason, "eventOf") {
		t.Fatalf("result #2 = %+v, want rejected for the missing eventOf", r)
	}
	got := rec.events(t)
	if len(got["LaunchEvent"]) != 2 || len(got["ClickEvent"]) != 1 || len(got["CustomEvent.video_quality"]) != 1 {
		t.Fatalf("groups = %v", keys(got))
	}
	if len(rec.msgs) != 3 {
		t.Fatalf("published %d messages, want one per type (3)", len(rec.msgs))
	}
	for _, m := range rec.msgs {
		if m.Headers[broker.HeaderInsertTime] != ms(now) {
			t.Fatalf("insert time header = %q", m.Headers[broker.HeaderInsertTime])
		}
	}
}

func keys(m map[string][]*eventgrpcv1.Event) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestClampsMintsAndRejects(t *testing.T) {
	rec := &recorder{}
	p := newTest(t, rec, nil)
	cases := []struct {
		name   string
		ev     *eventgrpcv1.Event
		ok     bool
		wantTS string
		reason string
	}{
		{"future is clamped to now", launch("f", ms(now.Add(48*time.Hour))), true, ms(now), ""},
		{"past within age kept", launch("p", ms(now.Add(-time.Hour))), true, ms(now.Add(-time.Hour)), ""},
		{"missing timestamp is now", launch("m", ""), true, ms(now), ""},
		{"too old rejected", launch("o", ms(now.Add(-48*time.Hour))), false, "", "older than"},
		{"garbage timestamp rejected", launch("g", "yesterday"), false, "", "not epoch milliseconds"},
		{"long id rejected", launch(strings.Repeat("x", 200), ms(now)), false, "", "limit is 128"},
		{"bad custom name", &eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_CustomEvent{CustomEvent: &eventgrpcv1.CustomEvent{Name: "a b"}}}, false, "", "CustomEvent.name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := p.Dispatch(context.Background(), SourceHTTP, &eventgrpcv1.Events{Events: []*eventgrpcv1.Event{c.ev}})
			if err != nil {
				t.Fatal(err)
			}
			r := resp.Results[0]
			if r.Accepted != c.ok {
				t.Fatalf("accepted = %v (%s), want %v", r.Accepted, r.Reason, c.ok)
			}
			if !c.ok && !strings.Contains(r.Reason, c.reason) {
				t.Fatalf("reason %q does not say %q", r.Reason, c.reason)
			}
			if c.ok && c.ev.Timestamp != c.wantTS {
				t.Fatalf("timestamp = %s, want %s", c.ev.Timestamp, c.wantTS)
			}
		})
	}
}

func TestMintsUUIDv7(t *testing.T) {
	rec := &recorder{}
	p := newTest(t, rec, nil)
	resp, err := p.Dispatch(context.Background(), SourceGRPC, &eventgrpcv1.Events{Events: []*eventgrpcv1.Event{launch("", ms(now)), launch("", ms(now))}})
	if err != nil {
		t.Fatal(err)
	}
	a, b := resp.Results[0].EventId, resp.Results[1].EventId
	if a == b {
		t.Fatalf("minted ids are equal: %s", a)
	}
	for _, id := range []string{a, b} {
		u, err := uuid.Parse(id)
		if err != nil || u.Version() != 7 {
			t.Fatalf("id %q is not a UUIDv7", id)
		}
	}
	if got := rec.events(t)["LaunchEvent"]; got[0].Id != a {
		t.Fatalf("published id %s, reported %s", got[0].Id, a)
	}
}

func TestFullPoolIsRefusedNotQueued(t *testing.T) {
	rec := &recorder{block: make(chan struct{}), started: make(chan struct{}, 4)}
	p := newTest(t, rec, func(c *Config) { c.Workers = 1; c.Queue = 1 })
	req := func() *eventgrpcv1.Events {
		return &eventgrpcv1.Events{Events: []*eventgrpcv1.Event{launch("", ms(now))}}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	dispatch := func() {
		wg.Add(1)
		go func() { defer wg.Done(); _, err := p.Dispatch(context.Background(), SourceGRPC, req()); errs <- err }()
	}
	dispatch() // taken by the only worker, which blocks in Publish
	<-rec.started
	dispatch() // waits in the queue
	deadline := time.Now().Add(5 * time.Second)
	for p.pool.Len() < p.pool.Cap() {
		if time.Now().After(deadline) {
			t.Fatal("second request never reached the queue")
		}
		time.Sleep(time.Millisecond)
	}
	_, err := p.Dispatch(context.Background(), SourceGRPC, req())
	if !errors.Is(err, fault.ErrOverloaded) || !fault.IsThrottled(err) {
		t.Fatalf("err = %v, want a throttled ErrOverloaded", err)
	}
	close(rec.block)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("held request failed: %v", err)
		}
	}
}

func TestBrokerDownIsReturned(t *testing.T) {
	rec := &recorder{fail: broker.ErrUnavailable}
	p := newTest(t, rec, nil)
	_, err := p.Dispatch(context.Background(), SourceGRPC, &eventgrpcv1.Events{Events: []*eventgrpcv1.Event{launch("", ms(now))}})
	if !errors.Is(err, broker.ErrUnavailable) || fault.KindOf(err) != fault.KindTransient {
		t.Fatalf("err = %v, want a transient ErrUnavailable", err)
	}
}

func TestCoalescesConcurrentRequests(t *testing.T) {
	rec := &recorder{}
	p := newTest(t, rec, func(c *Config) { c.Workers = 16; c.Queue = 64; c.Linger = 20 * time.Millisecond })
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := &eventgrpcv1.Events{Header: &eventgrpcv1.Header{UserId: strconv.Itoa(i)}, Events: []*eventgrpcv1.Event{launch("", ms(now)), launch("", ms(now))}}
			if _, err := p.Dispatch(context.Background(), SourceGRPC, req); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := len(rec.events(t)["LaunchEvent"]); n != 20 {
		t.Fatalf("published %d events, want 20", n)
	}
	if len(rec.msgs) >= 10 {
		t.Fatalf("%d messages for 10 concurrent requests: nothing was coalesced", len(rec.msgs))
	}
	// Each request keeps its own header inside the shared message.
	parts, _ := event.Decode(rec.msgs[0].Body)
	if len(parts) < 2 || parts[0].GetHeader().GetUserId() == parts[1].GetHeader().GetUserId() {
		t.Fatalf("coalesced parts lost their headers")
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	good, _ := proto.Marshal(&eventgrpcv1.Events{Events: []*eventgrpcv1.Event{launch("x", "1")}})
	body := protowire.AppendVarint(nil, uint64(len(good)))
	body = append(body, good...)
	if parts, err := event.Decode(body); err != nil || len(parts) != 1 {
		t.Fatalf("event.Decode(good) = %d parts, %v", len(parts), err)
	}
	for _, b := range [][]byte{{0xff}, append(protowire.AppendVarint(nil, 100), 1, 2, 3), append(protowire.AppendVarint(nil, 3), 0xff, 0xff, 0xff)} {
		if _, err := event.Decode(b); err == nil {
			t.Fatalf("event.Decode(%x) accepted garbage", b)
		}
	}
}

// FuzzDispatchProto feeds arbitrary bytes through the gRPC ingest path: the
// protobuf decoder, then validation, grouping and encoding. Whatever
// decodes gets one result per event, and every accepted event can be read
// back from the published messages.
func FuzzDispatchProto(f *testing.F) {
	seed, _ := proto.Marshal(&eventgrpcv1.Events{Header: &eventgrpcv1.Header{UserId: "u"}, Events: []*eventgrpcv1.Event{
		launch("a", ms(now)), click("", ""), {Id: "x"},
		{EventOf: &eventgrpcv1.Event_CustomEvent{CustomEvent: &eventgrpcv1.CustomEvent{Name: "n", Params: map[string]string{"k": "v"}}}},
	}})
	f.Add(seed)
	f.Add([]byte{})
	f.Add([]byte{0x12, 0x02, 0x08, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		req := &eventgrpcv1.Events{}
		if err := proto.Unmarshal(b, req); err != nil {
			return
		}
		rec := &recorder{}
		p := must(New(Config{Workers: 1, Queue: 1, MaxMessageEvents: 100, MaxEvents: 1000, MaxPast: 24 * time.Hour,
			Exchange: "x", Now: func() time.Time { return now }}, rec))
		defer p.Shutdown(context.Background())
		resp, err := p.Dispatch(context.Background(), SourceGRPC, req)
		if err != nil {
			if !fault.IsPermanent(err) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(resp.Results) != len(req.Events) {
			t.Fatalf("%d results for %d events", len(resp.Results), len(req.Events))
		}
		published := 0
		for _, evs := range rec.events(t) {
			published += len(evs)
		}
		if published != int(resp.Accepted) {
			t.Fatalf("published %d events, accepted %d", published, resp.Accepted)
		}
	})
}

func TestInputLimitsNameTheLimit(t *testing.T) {
	p := newTest(t, &recorder{}, func(c *Config) { c.MaxEventBytes = 600; c.MaxStringLength = 256; c.MaxParams = 3; c.MaxEvents = 5 })
	long := strings.Repeat("x", 300)
	cases := []struct {
		name string
		ev   *eventgrpcv1.Event
		says string
	}{
		{"string too long", &eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_SearchEvent{SearchEvent: &eventgrpcv1.SearchEvent{Query: long}}}, "event.search_event.query is 300 bytes; the limit is 256 (MAX_STRING_LENGTH)"},
		{"event too large", &eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_CustomEvent{CustomEvent: &eventgrpcv1.CustomEvent{Name: "n", Params: map[string]string{"a": strings.Repeat("y", 250), "b": strings.Repeat("y", 250), "c": strings.Repeat("y", 250)}}}}, "the limit is 600 (MAX_EVENT_BYTES)"},
		{"too many params", &eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_CustomEvent{CustomEvent: &eventgrpcv1.CustomEvent{Name: "n", Params: map[string]string{"a": "1", "b": "2", "c": "3", "d": "4"}}}}, "params has 4 entries; the limit is 3 (MAX_PARAMS)"},
		{"map key too long", &eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_CustomEvent{CustomEvent: &eventgrpcv1.CustomEvent{Name: "n", Params: map[string]string{long: "v"}}}}, "key is 300 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := p.Dispatch(context.Background(), SourceGRPC, &eventgrpcv1.Events{Events: []*eventgrpcv1.Event{c.ev, launch("ok", ms(now))}})
			if err != nil {
				t.Fatal(err)
			}
			if r := resp.Results[0]; r.Accepted || (c.says != "" && !strings.Contains(r.Reason, c.says)) {
				t.Fatalf("result %+v, want rejected saying %q", r, c.says)
			}
			if !resp.Results[1].Accepted {
				t.Fatal("the valid neighbour was not accepted")
			}
		})
	}
	big := &eventgrpcv1.Events{Events: []*eventgrpcv1.Event{launch("", ms(now))}}
	for range 8 {
		big.Events = append(big.Events, launch("", ms(now)))
	}
	if _, err := p.Dispatch(context.Background(), SourceGRPC, big); err == nil || !strings.Contains(err.Error(), "MAX_EVENTS_PER_REQUEST") {
		t.Fatalf("9 events: %v", err)
	}
	hdr := &eventgrpcv1.Events{Header: &eventgrpcv1.Header{CurrentURL: long}, Events: []*eventgrpcv1.Event{launch("", ms(now))}}
	if _, err := p.Dispatch(context.Background(), SourceGRPC, hdr); err == nil || !strings.Contains(err.Error(), "header.currentURL is 300 bytes") {
		t.Fatalf("long header: %v", err)
	}
}

// TestByteBudgetRefusesBeforeReading: requests in flight that hold the
// byte budget make Admit refuse the next request before it is read, and
// Dispatch refuse one that would go over it, both as throttled overload
// with a retry hint; once the held requests finish, both admit again.
func TestByteBudgetRefusesBeforeReading(t *testing.T) {
	rec := &recorder{block: make(chan struct{}), started: make(chan struct{}, 4)}
	p := newTest(t, rec, func(c *Config) { c.Workers = 2; c.Queue = 8; c.MaxInflightBytes = 1500 })
	big := func() *eventgrpcv1.Events {
		ev := &eventgrpcv1.Event{Timestamp: ms(now), EventOf: &eventgrpcv1.Event_CustomEvent{CustomEvent: &eventgrpcv1.CustomEvent{
			Name: "budget", Params: map[string]string{"blob": strings.Repeat("x", 1000)}}}}
		return &eventgrpcv1.Events{Events: []*eventgrpcv1.Event{ev}}
	}
	if err := p.Admit(); err != nil {
		t.Fatalf("Admit with nothing in flight: %v", err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := p.Dispatch(context.Background(), SourceGRPC, big()); err != nil {
			t.Errorf("held request: %v", err)
		}
	}()
	<-rec.started // the first request (≈1 KB) holds its bytes while publishing
	_, err := p.Dispatch(context.Background(), SourceGRPC, big())
	if !errors.Is(err, fault.ErrOverloaded) || !fault.IsThrottled(err) || fault.RetryAfter(err) <= 0 {
		t.Fatalf("second request over the budget: err = %v, want throttled ErrOverloaded with a hint", err)
	}
	if !strings.Contains(err.Error(), "INGEST_MAX_INFLIGHT_BYTES") {
		t.Fatalf("refusal %q does not name INGEST_MAX_INFLIGHT_BYTES", err)
	}
	// Fill the budget exactly: Admit must now refuse before reading.
	wg.Add(1)
	go func() {
		defer wg.Done()
		small := &eventgrpcv1.Events{Events: []*eventgrpcv1.Event{launch("", ms(now))}}
		if _, err := p.Dispatch(context.Background(), SourceGRPC, small); err != nil {
			t.Errorf("small request within the budget: %v", err)
		}
	}()
	<-rec.started
	p.inflight.Add(1500) // what a burst of requests being read would hold
	if err := p.Admit(); !errors.Is(err, fault.ErrOverloaded) || fault.RetryAfter(err) <= 0 {
		t.Fatalf("Admit at a full budget: err = %v, want throttled ErrOverloaded with a hint", err)
	}
	p.inflight.Add(-1500)
	close(rec.block)
	wg.Wait()
	if err := p.Admit(); err != nil {
		t.Fatalf("Admit after the held requests finished: %v", err)
	}
	if n := p.inflight.Load(); n != 0 {
		t.Fatalf("bytes in flight after every request finished = %d, want 0", n)
	}
}

// limited is a recorder whose broker limit can change after the pipeline
// is built, as a broker's does when it first connects to its server.
type limited struct {
	recorder
	max atomic.Int64
}

func (l *limited) MaxMessageBytes() int { return int(l.max.Load()) }

// The broker's message limit is read for each request: a broker that
// learns a smaller server limit when it connects (after the pipeline was
// built) gets messages cut to it.
func TestBrokerLimitReadPerRequest(t *testing.T) {
	pub := &limited{}
	pub.max.Store(1 << 20)
	p := newTest(t, pub, func(c *Config) { c.MaxMessageBytes = 1 << 20 })
	req := func() *eventgrpcv1.Events {
		var evs []*eventgrpcv1.Event
		for i := range 40 {
			ev := launch("l"+strconv.Itoa(i)+"-"+strconv.Itoa(int(pub.max.Load())), ms(now))
			ev.GetLaunchEvent().DeepLink = strings.Repeat("r", 1000)
			evs = append(evs, ev)
		}
		return &eventgrpcv1.Events{Events: evs}
	}
	if _, err := p.Dispatch(context.Background(), SourceGRPC, req()); err != nil {
		t.Fatal(err)
	}
	if n := len(pub.msgs); n != 1 {
		t.Fatalf("40 events of 1 KB under a 1 MiB limit: %d messages, want 1", n)
	}
	pub.max.Store(8 << 10)
	resp, err := p.Dispatch(context.Background(), SourceGRPC, req())
	if err != nil || resp.Accepted != 40 {
		t.Fatalf("after the limit fell: %v, %v", resp, err)
	}
	if n := len(pub.msgs) - 1; n < 5 {
		t.Fatalf("40 events of 1 KB under an 8 KiB limit: %d messages, want at least 5", n)
	}
	for _, m := range pub.msgs[1:] {
		if len(m.Body) > 8<<10 {
			t.Fatalf("a message of %d bytes under an 8 KiB limit", len(m.Body))
		}
	}
}
