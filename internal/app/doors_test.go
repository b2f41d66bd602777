package app_test

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/app/apptest"
	"github.com/event-grpc/event-grpc/internal/ingest/ingesttest"
	"github.com/event-grpc/event-grpc/internal/telemetry/telemetrytest"
)

// rawCodec sends a []byte as the message as it is, so an attack's bytes
// are built once, not per call.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }
func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}
func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*(v.(*[]byte)) = data.Materialize()
	return nil
}

// emptyEvents is an Events message of n empty events: 2 bytes each on the
// wire, about a hundred decoded.
func emptyEvents(n int) []byte {
	b := make([]byte, 0, 2*n)
	for range n {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendVarint(b, 0)
	}
	return b
}

// heapPeak samples the heap in use until stop is called and returns the
// most it grew above where it stood at the start.
func heapPeak() (stop func() uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	peak := base
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	})
	return func() uint64 { close(done); wg.Wait(); return peak - base }
}

const dispatchPath = "/eventgrpc.v1.EventService/dispatch"

// TestUnauthenticatedMessagesAreNotRead is the first reproduction of
// issue 18 at test scale: calls without credentials, each a 4 MB message
// of two million empty events, are refused from their headers, before
// grpc-go reads a byte of them, and an authenticated one is refused by
// the wire pre-scan before it is decoded. On e066805 every message was
// read and decoded (~200 MB each) before the interceptor refused it.
func TestUnauthenticatedMessagesAreNotRead(t *testing.T) {
	a, reg := apptest.StartWith(t, map[string]string{"AUTH_MODE": "apikey", "AUTH_API_KEYS": "android:" + testKey})
	cc := dial(t, a)
	msg := emptyEvents(2_000_000)
	call := func(md metadata.MD) error {
		var out []byte
		return cc.Invoke(metadata.NewOutgoingContext(context.Background(), md), dispatchPath, msg, &out, grpc.ForceCodecV2(rawCodec{}))
	}
	stop := heapPeak()
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range 4 {
		wg.Go(func() { errs[i] = call(metadata.MD{}) })
	}
	for i := 4; i < 6; i++ {
		wg.Go(func() { errs[i] = call(metadata.Pairs("x-client-id", "android", "authorization", "Bearer "+testKey)) })
	}
	wg.Wait()
	grew := stop()
	for i, err := range errs {
		want := codes.Unauthenticated
		if i >= 4 {
			want = codes.InvalidArgument
		}
		if status.Code(err) != want {
			t.Errorf("call %d: %v, want %v", i, err, want)
		}
	}
	if err := errs[5]; !strings.Contains(status.Convert(err).Message(), "MAX_EVENTS_PER_REQUEST") {
		t.Errorf("the pre-scan's refusal %q does not name MAX_EVENTS_PER_REQUEST", status.Convert(err).Message())
	}
	if grew > 48<<20 {
		t.Errorf("the heap grew by %d MiB while refusing them; want under 48 MiB", grew>>20)
	}
	if n := telemetrytest.Value(t, reg, "eventgrpc_auth_failures_total", "reason", "missing"); n != 4 {
		t.Errorf("auth failures (missing) = %v, want 4", n)
	}
	if n := telemetrytest.Value(t, reg, "eventgrpc_ingest_requests_refused_unread_total", "reason", "too_many_events"); n != 2 {
		t.Errorf("pre-scan refusals = %v, want 2", n)
	}
	t.Logf("heap grew by %.1f MiB", float64(grew)/(1<<20))
}

// halfSentEnv is a small budget (four 4 MiB requests) and a short read
// deadline, so the attacks run in seconds.
var halfSentEnv = map[string]string{
	"AUTH_MODE": "apikey", "AUTH_API_KEYS": "android:" + testKey,
	"INGEST_MAX_INFLIGHT_BYTES": "16777216", "INGEST_READ_TIMEOUT": "2s",
}

// TestHalfSentGRPCStreamsAreBounded is the second reproduction: streams
// that send most of a 4 MB message and never finish. Without credentials
// they are refused from their headers; with credentials the budget admits
// as many as it can hold (the rest are refused with RESOURCE_EXHAUSTED
// before they are read), and the read deadline cuts those off, so a
// legitimate client on another connection is served again within it and
// the budget is whole again. On e066805 every stream was read into memory
// and held for as long as its connection lived.
func TestHalfSentGRPCStreamsAreBounded(t *testing.T) {
	a, reg := apptest.StartWith(t, halfSentEnv)
	addr := a.GRPCAddr().String()
	body := ingesttest.GRPCFrame(4_194_000, make([]byte, 4_193_800-5))
	attack := func(ctx context.Context, md ...string) (ingesttest.Result, error) {
		return ingesttest.HalfSend{Addr: addr, Streams: 32, Header: ingesttest.GRPCHeader(addr, dispatchPath, md...), Body: body}.Run(ctx)
	}
	checkHalfSent(t, reg, attack, func(ctx context.Context) error {
		client := eventgrpcv1.NewEventServiceClient(dial(t, a))
		ctx = metadata.NewOutgoingContext(ctx, metadata.Pairs("x-client-id", "android", "authorization", "Bearer "+testKey))
		_, err := client.Dispatch(ctx, marker("half-sent-grpc"))
		return err
	}, "grpc-status:16", "grpc-status:8")
}

// TestHalfSentHTTPBodiesAreBounded is the third reproduction, on the
// HTTP port over h2c: bodies declared 4 MB that never finish.
func TestHalfSentHTTPBodiesAreBounded(t *testing.T) {
	a, reg := apptest.StartWith(t, halfSentEnv)
	addr := a.HTTPAddr().String()
	body := make([]byte, 4_193_800)
	attack := func(ctx context.Context, hdr ...string) (ingesttest.Result, error) {
		return ingesttest.HalfSend{Addr: addr, Streams: 32, Header: ingesttest.HTTPHeader(addr, "/v1/events", 4_194_000, hdr...), Body: body}.Run(ctx)
	}
	checkHalfSent(t, reg, attack, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/events",
			strings.NewReader(`{"events":[{"id":"half-sent-http","testEvent":{}}]}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("x-client-id", "android")
		req.Header.Set("Authorization", "Bearer "+testKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return status.Errorf(codes.Unknown, "HTTP %s", resp.Status)
		}
		return nil
	}, ":status:401", ":status:429")
}

// checkHalfSent runs an unauthenticated and an authenticated half-sent
// attack at once, each on its own connection, and a legitimate client on
// a third; unauth and busy are the answers the refused streams must get.
func checkHalfSent(t *testing.T, reg prometheus.Gatherer, attack func(ctx context.Context, hdr ...string) (ingesttest.Result, error),
	legit func(ctx context.Context) error, unauth, busy string) {
	t.Helper()
	stop := heapPeak()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var anon, authd ingesttest.Result
	var anonErr, authdErr error
	wg.Go(func() { anon, anonErr = attack(ctx) })
	wg.Go(func() { authd, authdErr = attack(ctx, "x-client-id", "android", "authorization", "Bearer "+testKey) })
	// The legitimate client: served once the deadline (2 s) freed the
	// budget, while the attackers still hold their connections.
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	var served error
	for {
		cctx, ccancel := context.WithTimeout(ctx, time.Second)
		served = legit(cctx)
		ccancel()
		if served == nil || time.Since(start) > 3*time.Second {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	waited := time.Since(start)
	wg.Wait()
	grew := stop()
	if anonErr != nil || authdErr != nil {
		t.Fatalf("attack: %v / %v", anonErr, authdErr)
	}
	t.Logf("unauthenticated: %+v; authenticated: %+v; legitimate client served after %v; heap grew %.1f MiB",
		anon, authd, waited.Round(time.Millisecond), float64(grew)/(1<<20))
	if served != nil {
		t.Errorf("legitimate client not served within 3 s: %v", served)
	}
	if anon.Refused != anon.Opened || anon.Answers[unauth] != anon.Opened {
		t.Errorf("unauthenticated streams: %+v, want every one refused with %s", anon, unauth)
	}
	if anon.Sent > int64(anon.Opened)*(64<<10) {
		t.Errorf("unauthenticated streams sent %d bytes; want no more than their initial windows", anon.Sent)
	}
	if authd.Answers[busy] < authd.Opened-4 {
		t.Errorf("authenticated streams: %+v, want all but the 4 the budget holds refused with %s", authd, busy)
	}
	if n := telemetrytest.Value(t, reg, "eventgrpc_ingest_requests_refused_unread_total", "reason", "read_timeout"); n < 1 || n > 4 {
		t.Errorf("streams cut off by the read deadline = %v, want 1 to 4", n)
	}
	if n := telemetrytest.Value(t, reg, "eventgrpc_ingest_requests_refused_unread_total", "reason", "budget"); n < float64(authd.Opened-4) {
		t.Errorf("budget refusals = %v, want at least %d", n, authd.Opened-4)
	}
	if grew > 64<<20 {
		t.Errorf("the heap grew by %d MiB under the attacks; want under 64 MiB (the budget is 16 MiB)", grew>>20)
	}
	deadline := time.Now().Add(2 * time.Second)
	for telemetrytest.Value(t, reg, "eventgrpc_ingest_inflight_bytes") != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := telemetrytest.Value(t, reg, "eventgrpc_ingest_inflight_bytes"); n != 0 {
		t.Errorf("the budget still holds %v bytes after the attacks ended", n)
	}
}

// TestJSONEventCountBeforeDecode: on the HTTP port a body of 1.3 million
// empty JSON events (3 bytes each, about a hundred decoded) is refused by
// the pre-scan before protojson decodes it. On e066805 it was decoded
// (~130 MB) and then refused by the pipeline.
func TestJSONEventCountBeforeDecode(t *testing.T) {
	a, reg := apptest.StartWith(t, map[string]string{"AUTH_MODE": "apikey", "AUTH_API_KEYS": "android:" + testKey})
	body := `{"events":[` + strings.Repeat(`{},`, 1_300_000) + `{}]}`
	stop := heapPeak()
	req, _ := http.NewRequest(http.MethodPost, "http://"+a.HTTPAddr().String()+"/v1/events", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-client-id", "android")
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	grew := stop()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(msg), "MAX_EVENTS_PER_REQUEST") {
		t.Fatalf("%s %s, want 400 naming MAX_EVENTS_PER_REQUEST", resp.Status, msg)
	}
	if grew > 48<<20 {
		t.Errorf("the heap grew by %d MiB refusing it; want under 48 MiB", grew>>20)
	}
	if n := telemetrytest.Value(t, reg, "eventgrpc_ingest_requests_refused_unread_total", "reason", "too_many_events"); n != 1 {
		t.Errorf("pre-scan refusals = %v, want 1", n)
	}
	t.Logf("heap grew by %.1f MiB", float64(grew)/(1<<20))
}
