package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/app"
	"github.com/event-grpc/event-grpc/internal/app/apptest"

	"github.com/event-grpc/event-grpc/client"
)

const testKey = "k3y-for-the-go-sdk-0123456789abcdef"

func testEvent() *eventgrpcv1.Event {
	return &eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_TestEvent{TestEvent: &eventgrpcv1.TestEvent{}}}
}

func count(t *testing.T, a *app.App, user string, want int) {
	t.Helper()
	apptest.WaitRows(t, a, 30*time.Second, "SELECT count(*) || '/' || count(DISTINCT event_id) FROM event WHERE user_id = '"+user+"'", fmt.Sprintf("%d/%d", want, want))
}

func closeWithin(t *testing.T, c *client.Client, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentTrackDeliversEachOnce: events tracked from several
// goroutines are all stored, once each, with client-minted ids.
func TestConcurrentTrackDeliversEachOnce(t *testing.T) {
	a := apptest.Start(t, map[string]string{"AUTH_MODE": "apikey", "AUTH_API_KEYS": "go:" + testKey})
	c, err := client.New(client.Config{URL: apptest.URL(a), ClientID: "go", APIKey: testKey,
		Header: &eventgrpcv1.Header{UserId: "conc"}, MaxBatchEvents: 100, FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 250 {
				if err := c.Track(testEvent()); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	ev := testEvent()
	c.Track(ev)
	if len(ev.Id) != 36 || ev.Id[14] != '7' || ev.Timestamp == "" {
		t.Fatalf("minted id %q (want a UUIDv7), timestamp %q", ev.Id, ev.Timestamp)
	}
	closeWithin(t, c, 20*time.Second)
	if s := c.Stats(); s.Tracked != 2001 || s.Delivered != 2001 || s.Dropped != 0 || s.Rejected != 0 || s.Queued != 0 {
		t.Fatalf("stats %+v", s)
	}
	count(t, a, "conc", 2001)
	if rows := apptest.Query(t, a, "SELECT count(*) FROM event WHERE event_id = '"+ev.Id+"'"); rows[0][0] != "1" {
		t.Fatalf("the minted id is not the stored one: %v", rows)
	}
}

// TestRejectionsAreReportedNotRetried: an invalid event is reported to
// OnRejected with the server's reason and not sent again; the valid ones
// of its batch are stored.
func TestRejectionsAreReportedNotRetried(t *testing.T) {
	a := apptest.Start(t, nil)
	var got []client.Rejection
	var mu sync.Mutex
	c, err := client.New(client.Config{URL: apptest.URL(a), Header: &eventgrpcv1.Header{UserId: "rej"},
		OnRejected: func(rs []client.Rejection) { mu.Lock(); got = append(got, rs...); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	c.Track(testEvent())
	bad := &eventgrpcv1.Event{} // no payload
	c.Track(bad)
	c.Track(testEvent())
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	closeWithin(t, c, 10*time.Second)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0].EventID != bad.Id || got[0].Reason == "" || got[0].Code != eventgrpcv1.ResultCode_RESULT_CODE_INVALID {
		t.Fatalf("rejections %+v", got)
	}
	if s := c.Stats(); s.Delivered != 2 || s.Rejected != 1 || s.Retries != 0 {
		t.Fatalf("stats %+v", s)
	}
	count(t, a, "rej", 2)
}

// TestRefusingServer: a rate-limited service refuses most requests with
// resource_exhausted and a hint; the client waits and retries until every
// event is stored, once.
func TestRefusingServer(t *testing.T) {
	a := apptest.Start(t, map[string]string{"RATE_LIMIT_RPS": "4", "RATE_LIMIT_BURST": "1"})
	c, err := client.New(client.Config{URL: apptest.URL(a), Header: &eventgrpcv1.Header{UserId: "refused"},
		MaxBatchEvents: 100, FlushInterval: 10 * time.Millisecond, MinBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		if err := c.Track(testEvent()); err != nil {
			t.Fatal(err)
		}
	}
	closeWithin(t, c, 30*time.Second)
	s := c.Stats()
	if s.Delivered != 1000 || s.Retries == 0 || s.Dropped != 0 || s.Rejected != 0 {
		t.Fatalf("stats %+v", s)
	}
	t.Logf("stats %+v", s)
	count(t, a, "refused", 1000)
}

// refusals counts the answers that were refusals (HTTP 429).
type refusals struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (r *refusals) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		r.n.Add(1)
	}
	return resp, err
}

// TestServerDownFiveSeconds: while 10,000 events are tracked, the service
// refuses (a rate limit: 429 with a retry hint) and then stops for 5 s,
// coming back on the same port and DATA_DIR, refusing again; after Close
// every event is stored exactly once.
func TestServerDownFiveSeconds(t *testing.T) {
	port := freePort(t)
	env := map[string]string{"GIN_PORT": strconv.Itoa(port), "DATA_DIR": t.TempDir(), "RATE_LIMIT_RPS": "20", "RATE_LIMIT_BURST": "2"}
	a := apptest.Run(t, env)
	var drops atomic.Int64
	refused := &refusals{next: http.DefaultTransport}
	c, err := client.New(client.Config{URL: apptest.URL(a), Header: &eventgrpcv1.Header{UserId: "down"},
		MaxBatchEvents: 100, FlushInterval: 5 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
		RequestTimeout: 3 * time.Second, HTTPClient: &http.Client{Transport: refused},
		OnDropped: func(n int, _ error) { drops.Add(int64(n)) }})
	if err != nil {
		t.Fatal(err)
	}
	tracked := make(chan struct{})
	go func() {
		defer close(tracked)
		for i := range 10_000 {
			if err := c.Track(testEvent()); err != nil {
				t.Error(err)
				return
			}
			if i%100 == 99 {
				time.Sleep(80 * time.Millisecond) // 10,000 events over ~8 s
			}
		}
	}()
	time.Sleep(1500 * time.Millisecond)
	apptest.Stop(t, a)
	down := c.Stats()
	time.Sleep(5 * time.Second)
	during := c.Stats()
	b := apptest.Run(t, env)
	defer apptest.Stop(t, b)
	<-tracked
	closeWithin(t, c, 60*time.Second)
	s := c.Stats()
	t.Logf("at stop %+v\nafter 5 s down %+v\nat close %+v", down, during, s)
	if during.Delivered != down.Delivered && during.Delivered-down.Delivered > 200 {
		t.Errorf("delivered %d events while the server was down", during.Delivered-down.Delivered)
	}
	if s.Tracked != 10_000 || s.Delivered != 10_000 || s.Dropped != 0 || drops.Load() != 0 || s.Rejected != 0 || s.Retries == 0 {
		t.Fatalf("stats %+v", s)
	}
	if refused.n.Load() == 0 {
		t.Fatal("the server never refused: the test did not exercise a refusing server")
	}
	t.Logf("refused %d times (429)", refused.n.Load())
	count(t, b, "down", 10_000)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestBoundedQueueDropsAreCounted: with nothing listening, the queue fills;
// further events are refused with ErrQueueFull, counted and reported, and
// Close's deadline drops the rest, also counted.
func TestBoundedQueueDropsAreCounted(t *testing.T) {
	var reported atomic.Int64
	c, err := client.New(client.Config{URL: fmt.Sprintf("http://127.0.0.1:%d", freePort(t)), MaxQueueEvents: 10, MaxBatchEvents: 5,
		OnDropped: func(n int, _ error) { reported.Add(int64(n)) }})
	if err != nil {
		t.Fatal(err)
	}
	full := 0
	for range 20 {
		if err := c.Track(testEvent()); errors.Is(err, client.ErrQueueFull) {
			full++
		}
	}
	// One batch of 5 may be in flight, freeing room for 5 more.
	if full < 5 || full > 10 {
		t.Fatalf("%d refused as full", full)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := c.Close(ctx); err == nil {
		t.Fatal("Close delivered to nothing")
	}
	if err := c.Track(testEvent()); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Track after Close: %v", err)
	}
	s := c.Stats()
	if s.Dropped != 21 || reported.Load() != 21 || s.Delivered != 0 {
		t.Fatalf("stats %+v, reported %d", s, reported.Load())
	}
}

// TestHMAC: signed requests are accepted over Connect to the HTTP port
// (signature over the HTTP body as sent: gzip-compressed here) and over
// gRPC to the gRPC port (over the deterministic encoding).
func TestHMAC(t *testing.T) {
	a := apptest.Start(t, map[string]string{"AUTH_MODE": "hmac", "AUTH_API_KEYS": "go:" + testKey})
	for _, c := range []struct{ protocol, url string }{
		{client.ProtocolConnect, apptest.URL(a)},
		{client.ProtocolGRPC, "http://" + a.GRPCAddr().String()},
	} {
		var reasons []client.Rejection
		cfg := client.Config{URL: c.url, Protocol: c.protocol, ClientID: "go", HMACSecret: []byte(testKey),
			Header: &eventgrpcv1.Header{UserId: "hmac"}, OnRejected: func(rs []client.Rejection) { reasons = append(reasons, rs...) }}
		cap := &capture{next: http.DefaultTransport}
		if c.protocol == client.ProtocolConnect {
			cfg.CompressMinBytes = 1 // always
			cfg.HTTPClient = &http.Client{Transport: cap}
		}
		cl, err := client.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			cl.Track(testEvent())
		}
		closeWithin(t, cl, 10*time.Second)
		if s := cl.Stats(); s.Delivered != 3 {
			t.Fatalf("%s %s: stats %+v: %v", c.protocol, c.url, s, reasons)
		}
		for _, r := range cap.all() {
			if r.encoding != "gzip" {
				t.Fatalf("a signed Connect request went uncompressed (%q)", r.encoding)
			}
		}
	}
	count(t, a, "hmac", 6)
	// A wrong secret: rejected for good, not retried.
	var rejected atomic.Int64
	cl, _ := client.New(client.Config{URL: apptest.URL(a), ClientID: "go", HMACSecret: []byte("wrong-secret-wrong-secret"),
		OnRejected: func(rs []client.Rejection) { rejected.Add(int64(len(rs))) }})
	cl.Track(testEvent())
	closeWithin(t, cl, 10*time.Second)
	if s := cl.Stats(); s.Rejected != 1 || s.Retries != 0 || rejected.Load() != 1 {
		t.Fatalf("wrong secret: stats %+v", s)
	}
}
