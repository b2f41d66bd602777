package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
)

func TestMain(m *testing.M) {
	if os.Getenv(serverEnv) != "" {
		os.Exit(serveAcceptAll())
	}
	goleak.VerifyTestMain(m)
}

// testService is a small EventService for the load generator to hit: it
// rejects the event kinds the real service rejects (no payload, a
// timestamp that is not epoch ms, a bad CustomEvent name), mints missing
// ids and accepts the rest. With throttle it answers every second call
// with RESOURCE_EXHAUSTED, as the real service does when its queue is full.
type testService struct {
	eventgrpcv1.UnimplementedEventServiceServer
	throttle bool
	delay    time.Duration
	onCall   func(n int64) // called with the number of each call

	calls atomic.Int64
	mu    sync.Mutex
	ids   map[string]int // accepted id → times accepted
	md    metadata.MD    // metadata of the last call
}

var testCustomName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_\-]{0,63}$`)

func (s *testService) Dispatch(ctx context.Context, req *eventgrpcv1.Events) (*eventgrpcv1.Response, error) {
	n := s.calls.Add(1)
	if s.onCall != nil {
		s.onCall(n)
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		s.mu.Lock()
		s.md = md
		s.mu.Unlock()
	}
	if s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	if s.throttle && n%2 == 0 {
		return nil, status.Error(codes.ResourceExhausted, "ingest queue is full")
	}
	resp := &eventgrpcv1.Response{}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = map[string]int{}
	}
	for i, ev := range req.GetEvents() {
		r := &eventgrpcv1.EventResult{Index: int32(i), EventId: ev.GetId()}
		_, tsErr := strconv.ParseInt(ev.GetTimestamp(), 10, 64)
		switch {
		case ev.GetEventOf() == nil:
			r.Reason = "event has no eventOf set"
		case tsErr != nil:
			r.Reason = "timestamp is not epoch milliseconds"
		case ev.GetCustomEvent() != nil && !testCustomName.MatchString(ev.GetCustomEvent().GetName()):
			r.Reason = "CustomEvent.name is not usable"
		default:
			if r.EventId == "" {
				r.EventId = uuid.Must(uuid.NewV7()).String()
			}
			r.Accepted = true
			s.ids[r.EventId]++
		}
		if r.Accepted {
			resp.Accepted++
		} else {
			resp.Rejected++
		}
		resp.Results = append(resp.Results, r)
	}
	switch {
	case resp.Rejected == 0:
		resp.Status = eventgrpcv1.Status_STATUS_OK
	case resp.Accepted == 0:
		resp.Status = eventgrpcv1.Status_STATUS_REJECTED
	default:
		resp.Status = eventgrpcv1.Status_STATUS_PARTIAL
	}
	return resp, nil
}

func (s *testService) accepted() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.ids))
	for k, v := range s.ids {
		out[k] = v
	}
	return out
}

// startServer serves svc on a random local port until the test ends.
func startServer(t *testing.T, svc eventgrpcv1.EventServiceServer) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := grpc.NewServer()
	eventgrpcv1.RegisterEventServiceServer(srv, svc)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-done; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("serve: %v", err)
		}
	})
	return lis.Addr().String()
}

func checkAddsUp(t *testing.T, r Result) {
	t.Helper()
	if r.Sent != r.Acked+r.Rejected+r.Refused {
		t.Errorf("sent=%d != acked=%d + rejected=%d + refused=%d", r.Sent, r.Acked, r.Rejected, r.Refused)
	}
	if r.Mismatched != 0 || r.Unanswered != 0 {
		t.Errorf("mismatched=%d unanswered=%d, want 0", r.Mismatched, r.Unanswered)
	}
	if r.Dispatches != r.DispatchesOK+r.Errors {
		t.Errorf("dispatches=%d != ok=%d + errors=%d", r.Dispatches, r.DispatchesOK, r.Errors)
	}
	var byCode int64
	for _, n := range r.ByCode {
		byCode += n
	}
	if byCode != r.Errors {
		t.Errorf("by_code sums to %d, errors=%d", byCode, r.Errors)
	}
}

func TestRunCountsAddUp(t *testing.T) {
	tests := []struct {
		name        string
		throttle    bool
		emptyIDs    bool
		concurrency int
		batch       int
		requests    int64
	}{
		{name: "accept all", concurrency: 8, batch: 50, requests: 200},
		{name: "accept all, server mints ids", emptyIDs: true, concurrency: 4, batch: 20, requests: 100},
		{name: "every other call RESOURCE_EXHAUSTED", throttle: true, concurrency: 8, batch: 25, requests: 200},
		{name: "one worker", throttle: true, concurrency: 1, batch: 1, requests: 31},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &testService{throttle: tt.throttle}
			addr := startServer(t, svc)
			res, err := Run(t.Context(), Config{
				Target: addr, Concurrency: tt.concurrency, Batch: tt.batch,
				Requests: tt.requests, EmptyIDs: tt.emptyIDs, Seed: 7,
			})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			checkAddsUp(t, res)
			if res.Dispatches != tt.requests {
				t.Errorf("dispatches=%d, want %d", res.Dispatches, tt.requests)
			}
			if want := tt.requests * int64(tt.batch); res.Sent != want {
				t.Errorf("sent=%d, want %d", res.Sent, want)
			}
			wantFailed := int64(0)
			if tt.throttle {
				wantFailed = tt.requests / 2 // the service fails calls 2, 4, 6, …
			}
			if res.Errors != wantFailed || res.ByCode["RESOURCE_EXHAUSTED"] != wantFailed {
				t.Errorf("errors=%d by_code=%v, want %d RESOURCE_EXHAUSTED", res.Errors, res.ByCode, wantFailed)
			}
			if want := wantFailed * int64(tt.batch); res.Refused != want {
				t.Errorf("refused=%d, want %d", res.Refused, want)
			}
			if want := (tt.requests - wantFailed) * int64(tt.batch); res.Acked != want {
				t.Errorf("acked=%d, want %d", res.Acked, want)
			}
			ids := svc.accepted()
			if int64(len(ids)) != res.Acked {
				t.Errorf("service accepted %d distinct ids, result acked=%d", len(ids), res.Acked)
			}
			for id, n := range ids {
				if n != 1 {
					t.Fatalf("id %s accepted %d times; ids must be fresh per event", id, n)
				}
				if !tt.emptyIDs {
					if u, err := uuid.Parse(id); err != nil || u.Version() != 7 {
						t.Fatalf("client id %q is not a UUIDv7 (%v)", id, err)
					}
				}
			}
			if res.DispatchesOK > 0 && (res.LatencyP50Ms <= 0 || res.LatencyP99Ms < res.LatencyP50Ms) {
				t.Errorf("latency p50=%v p99=%v", res.LatencyP50Ms, res.LatencyP99Ms)
			}
		})
	}
}

func TestRequestsStopsAtExactlyN(t *testing.T) {
	for _, tt := range []struct {
		concurrency int
		requests    int64
		rate        float64
	}{
		{1, 1, 0}, {16, 37, 0}, {4, 1000, 0}, {3, 7, 0}, {8, 40, 400},
	} {
		t.Run(fmt.Sprintf("c=%d,n=%d,rate=%v", tt.concurrency, tt.requests, tt.rate), func(t *testing.T) {
			svc := &testService{}
			addr := startServer(t, svc)
			res, err := Run(t.Context(), Config{Target: addr, Concurrency: tt.concurrency, Batch: 5, Requests: tt.requests, Rate: tt.rate})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if got := svc.calls.Load(); got != tt.requests {
				t.Errorf("service saw %d calls, want %d", got, tt.requests)
			}
			if res.Dispatches != tt.requests {
				t.Errorf("dispatches=%d, want %d", res.Dispatches, tt.requests)
			}
			checkAddsUp(t, res)
		})
	}
}

func TestPoisonFraction(t *testing.T) {
	for _, poison := range []float64{0, 0.05, 0.25, 1} {
		t.Run(fmt.Sprint(poison), func(t *testing.T) {
			addr := startServer(t, &testService{})
			res, err := Run(t.Context(), Config{Target: addr, Concurrency: 4, Batch: 50, Requests: 200, Poison: poison, Seed: 11})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			checkAddsUp(t, res)
			// Each poisoned event is rejected, and only those.
			if res.Rejected != res.Poisoned {
				t.Errorf("rejected=%d, poisoned=%d", res.Rejected, res.Poisoned)
			}
			got := float64(res.Rejected) / float64(res.Sent)
			// 10,000 events: the standard deviation of the fraction is ≤ 0.005.
			if d := got - poison; d < -0.03 || d > 0.03 {
				t.Errorf("rejected fraction %.4f, want about %.2f", got, poison)
			}
		})
	}
}

var (
	summaryRE   = regexp.MustCompile(`^events/s=\d+ p50_ms=\d+\.\d{2} p99_ms=\d+\.\d{2} errors=\d+$`)
	breakdownRE = regexp.MustCompile(`^sent=(\d+) acked=(\d+) rejected=(\d+) refused=(\d+) dispatches=(\d+) by_code=\{((?:[A-Z_]+:\d+)(?:,[A-Z_]+:\d+)*)?\}`)
)

func TestCommandOutput(t *testing.T) {
	for _, tt := range []struct {
		name     string
		throttle bool
		json     bool
	}{
		{"plain", false, false},
		{"json", false, true},
		{"throttled json", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := startServer(t, &testService{throttle: tt.throttle})
			args := []string{"--target", addr, "--requests", "40", "--concurrency", "4", "--batch", "10", "--poison", "0.1"}
			if tt.json {
				args = append(args, "--json")
			}
			var stdout, stderr bytes.Buffer
			if err := Command(t.Context(), args, &stdout, &stderr); err != nil {
				t.Fatalf("Command: %v (stderr: %s)", err, stderr.String())
			}
			lines := strings.Split(strings.TrimRight(stdout.String(), "\n"), "\n")
			wantLines := 1
			if tt.json {
				wantLines = 2
			}
			if len(lines) != wantLines {
				t.Fatalf("stdout has %d lines, want %d:\n%s", len(lines), wantLines, stdout.String())
			}
			if !summaryRE.MatchString(lines[0]) {
				t.Errorf("summary line %q does not match %s", lines[0], summaryRE)
			}
			t.Logf("summary: %s", lines[0])
			m := breakdownRE.FindStringSubmatch(strings.TrimSpace(stderr.String()))
			if m == nil {
				t.Fatalf("breakdown %q does not match %s", stderr.String(), breakdownRE)
			}
			t.Logf("breakdown: %s", strings.TrimSpace(stderr.String()))
			n := make([]int64, 6)
			for i := 1; i <= 5; i++ {
				n[i], _ = strconv.ParseInt(m[i], 10, 64)
			}
			if n[1] != n[2]+n[3]+n[4] || n[1] != 400 || n[5] != 40 {
				t.Errorf("breakdown counts: sent=%d acked=%d rejected=%d refused=%d dispatches=%d", n[1], n[2], n[3], n[4], n[5])
			}
			if tt.throttle != strings.Contains(m[6], "RESOURCE_EXHAUSTED:20") {
				t.Errorf("by_code={%s}, throttled=%v", m[6], tt.throttle)
			}
			if tt.json {
				var res Result
				if err := json.Unmarshal([]byte(lines[1]), &res); err != nil {
					t.Fatalf("JSON line: %v: %s", err, lines[1])
				}
				if res.Sent != n[1] || res.Acked != n[2] || res.Rejected != n[3] || res.Refused != n[4] || res.Dispatches != n[5] {
					t.Errorf("JSON %+v disagrees with the breakdown %v", res, n[1:])
				}
				if summary := res.SummaryLine(); summary != lines[0] {
					t.Errorf("JSON result summarises to %q, printed %q", summary, lines[0])
				}
			}
		})
	}
}

func TestCommandBadFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--concurrency", "0"}, "--concurrency"},
		{[]string{"--concurrency", "-3"}, "--concurrency"},
		{[]string{"--batch", "0"}, "--batch"},
		{[]string{"--batch", "-1"}, "--batch"},
		{[]string{"--duration", "-1s"}, "--duration"},
		{[]string{"--requests", "-5"}, "--requests"},
		{[]string{"--rate", "-2"}, "--rate"},
		{[]string{"--poison", "1.5"}, "--poison"},
		{[]string{"--poison", "-0.1"}, "--poison"},
		{[]string{"--poison", "NaN"}, "--poison"},
		{[]string{"--metadata", "novalue"}, "key=value"},
		{[]string{"--metadata", "grpc-timeout=1"}, "reserved"},
		{[]string{"--metadata", "bad key=1"}, "may hold only"},
		{[]string{"--target", ""}, "--target"},
		{[]string{"--timeout", "0s"}, "--timeout"},
		{[]string{"--no-such-flag"}, "no-such-flag"},
		{[]string{"--batch", "ten"}, "invalid value"},
		{[]string{"extra"}, "unexpected arguments"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := Command(t.Context(), tt.args, &stdout, &stderr)
			if err == nil {
				t.Fatalf("no error; stdout=%q", stdout.String())
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
	t.Run("several problems reported at once", func(t *testing.T) {
		err := Command(t.Context(), []string{"--batch", "-1", "--poison", "2"}, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "--batch") || !strings.Contains(err.Error(), "--poison") {
			t.Errorf("error %v, want both --batch and --poison", err)
		}
	})
	t.Run("help", func(t *testing.T) {
		var stderr bytes.Buffer
		err := Command(t.Context(), []string{"-h"}, &bytes.Buffer{}, &stderr)
		if !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr.String(), "-concurrency") {
			t.Errorf("err=%v stderr=%q", err, stderr.String())
		}
	})
}

func TestUnreachableTarget(t *testing.T) {
	// A port that was just free: nothing listens there.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := lis.Addr().String()
	if err := lis.Close(); err != nil {
		t.Fatal(err)
	}
	// A listener that accepts TCP but never speaks HTTP/2.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	var mu sync.Mutex
	var accepted []net.Conn
	conns.Add(1)
	go func() {
		defer conns.Done()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepted = append(accepted, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = silent.Close()
		conns.Wait()
		for _, c := range accepted {
			_ = c.Close()
		}
	})

	for _, tt := range []struct {
		name, target, want string
	}{
		{"nothing listens", closedAddr, "refused"},
		{"not gRPC", silent.Addr().String(), "TCP connects"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			start := time.Now()
			err := Command(t.Context(), []string{"--target", tt.target, "--dial-timeout", "300ms", "--requests", "1"}, &stdout, &stderr)
			if err == nil {
				t.Fatal("no error for an unreachable target")
			}
			if !strings.Contains(err.Error(), tt.target) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q should name the target %s and say %q", err, tt.target, tt.want)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v; the dial wait is bounded by --dial-timeout", d)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}

func TestDurationAndRate(t *testing.T) {
	t.Run("duration", func(t *testing.T) {
		addr := startServer(t, &testService{delay: time.Millisecond})
		res, err := Run(t.Context(), Config{Target: addr, Concurrency: 4, Batch: 10, Duration: 300 * time.Millisecond})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if res.ElapsedSeconds < 0.3 || res.ElapsedSeconds > 2 {
			t.Errorf("elapsed %.3fs, want about 0.3s", res.ElapsedSeconds)
		}
		if res.Dispatches == 0 || res.EventsPerSecond <= 0 {
			t.Errorf("dispatches=%d events/s=%v", res.Dispatches, res.EventsPerSecond)
		}
		checkAddsUp(t, res)
	})
	t.Run("rate", func(t *testing.T) {
		addr := startServer(t, &testService{})
		// 60 dispatches at 200/s: the last is due 59 × 5 ms = 295 ms in.
		res, err := Run(t.Context(), Config{Target: addr, Concurrency: 8, Batch: 5, Requests: 60, Rate: 200})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if res.Dispatches != 60 {
			t.Errorf("dispatches=%d, want 60", res.Dispatches)
		}
		if res.ElapsedSeconds < 0.28 || res.ElapsedSeconds > 3 {
			t.Errorf("elapsed %.3fs, want about 0.3s at 200 dispatches/s", res.ElapsedSeconds)
		}
	})
	t.Run("rate stopped by duration", func(t *testing.T) {
		addr := startServer(t, &testService{})
		res, err := Run(t.Context(), Config{Target: addr, Concurrency: 4, Batch: 5, Rate: 50, Duration: 200 * time.Millisecond})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		// Slots at 0, 20, …, 180 ms: 10, give or take the edges.
		if res.Dispatches < 5 || res.Dispatches > 12 {
			t.Errorf("dispatches=%d, want about 10", res.Dispatches)
		}
	})
}

func TestCancelStopsRun(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	svc := &testService{delay: 20 * time.Millisecond}
	svc.onCall = func(n int64) {
		if n == 10 {
			cancel()
		}
	}
	addr := startServer(t, svc)
	start := time.Now()
	res, err := Run(ctx, Config{Target: addr, Concurrency: 4, Batch: 5, Duration: time.Minute})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run took %v; it should end soon after its context", d)
	}
	if res.Dispatches < 10 || res.Dispatches > 20 {
		t.Errorf("dispatches=%d, want about 10 before the cancel", res.Dispatches)
	}
	if res.ByCode["CANCELLED"] == 0 {
		t.Errorf("by_code=%v: the calls in flight at the cancel should count as CANCELLED", res.ByCode)
	}
	checkAddsUp(t, res)
}

func TestMetadataAndClientID(t *testing.T) {
	svc := &headerService{}
	addr := startServer(t, svc)
	var stdout, stderr bytes.Buffer
	err := Command(t.Context(), []string{
		"--target", addr, "--requests", "5", "--concurrency", "2",
		"--metadata", "authorization=Bearer abc=def", "--metadata", "X-Tenant=shop-1",
		"--header-client-id", "bench-client",
	}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("Command: %v", err)
	}
	svc.mu.Lock()
	defer svc.mu.Unlock()
	if got := svc.md.Get("authorization"); len(got) != 1 || got[0] != "Bearer abc=def" {
		t.Errorf("authorization = %q", got)
	}
	if got := svc.md.Get("x-tenant"); len(got) != 1 || got[0] != "shop-1" {
		t.Errorf("x-tenant = %q", got)
	}
	if len(svc.clientIDs) != 1 || !svc.clientIDs["bench-client"] {
		t.Errorf("header clientIds = %v, want only bench-client", svc.clientIDs)
	}
}

// headerService records what arrives besides the events.
type headerService struct {
	testService
	clientIDs map[string]bool
}

func (s *headerService) Dispatch(ctx context.Context, req *eventgrpcv1.Events) (*eventgrpcv1.Response, error) {
	s.mu.Lock()
	if s.clientIDs == nil {
		s.clientIDs = map[string]bool{}
	}
	s.clientIDs[req.GetHeader().GetClientId()] = true
	s.mu.Unlock()
	return s.testService.Dispatch(ctx, req)
}

func TestOutFile(t *testing.T) {
	for _, tt := range []struct {
		name     string
		emptyIDs bool
		throttle bool
		poison   float64
	}{
		{"client ids", false, false, 0.1},
		{"server-minted ids", true, false, 0.1},
		{"throttled", false, true, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			svc := &testService{throttle: tt.throttle}
			addr := startServer(t, svc)
			path := filepath.Join(t.TempDir(), "ids.txt")
			var total int64
			for run := 0; run < 2; run++ { // the file is appended to
				res, err := Run(t.Context(), Config{
					Target: addr, Concurrency: 4, Batch: 20, Requests: 50,
					EmptyIDs: tt.emptyIDs, Poison: tt.poison, OutPath: path,
				})
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				if res.IDsWritten != res.Acked {
					t.Errorf("ids written=%d, acked=%d", res.IDsWritten, res.Acked)
				}
				total += res.Acked
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			lines := map[string]bool{}
			sc := bufio.NewScanner(f)
			var n int64
			for sc.Scan() {
				n++
				lines[sc.Text()] = true
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			want := svc.accepted()
			if n != total || int64(len(lines)) != total || len(want) != len(lines) {
				t.Fatalf("file has %d lines (%d distinct), acked %d, service accepted %d", n, len(lines), total, len(want))
			}
			for id := range want {
				if !lines[id] {
					t.Fatalf("accepted id %s missing from the file", id)
				}
			}
		})
	}
	t.Run("unwritable path", func(t *testing.T) {
		addr := startServer(t, &testService{})
		_, err := Run(t.Context(), Config{Target: addr, Requests: 1, OutPath: filepath.Join(t.TempDir(), "no", "such", "dir", "ids")})
		if err == nil || !strings.Contains(err.Error(), "--out") {
			t.Errorf("err = %v, want an --out error", err)
		}
	})
}

// mismatchService answers with counts that do not add up.
type mismatchService struct {
	eventgrpcv1.UnimplementedEventServiceServer
}

func (mismatchService) Dispatch(_ context.Context, req *eventgrpcv1.Events) (*eventgrpcv1.Response, error) {
	return &eventgrpcv1.Response{Status: eventgrpcv1.Status_STATUS_OK, Accepted: int32(len(req.GetEvents()) - 2)}, nil
}

func TestMismatchedResponsesAreCounted(t *testing.T) {
	addr := startServer(t, mismatchService{})
	res, err := Run(t.Context(), Config{Target: addr, Concurrency: 2, Batch: 10, Requests: 10})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Mismatched != 10 || res.Unanswered != 20 || res.Acked != 80 {
		t.Errorf("mismatched=%d unanswered=%d acked=%d, want 10, 20, 80", res.Mismatched, res.Unanswered, res.Acked)
	}
	if res.Sent != res.Acked+res.Rejected+res.Refused+res.Unanswered {
		t.Errorf("counts do not add up: %+v", res)
	}
}
