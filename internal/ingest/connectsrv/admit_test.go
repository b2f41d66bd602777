package connectsrv_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/gen/eventgrpc/v1/eventgrpcv1connect"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/health"
	"github.com/event-grpc/event-grpc/internal/ingest/connectsrv"
	"github.com/event-grpc/event-grpc/internal/ingest/grpcsrv"
	"github.com/event-grpc/event-grpc/internal/pipeline"
)

// countingDispatcher accepts everything and counts the requests that
// reached it.
type countingDispatcher struct{ calls atomic.Int64 }

func (d *countingDispatcher) Dispatch(ctx context.Context, src pipeline.Source, req *eventgrpcv1.Events) (*eventgrpcv1.Response, error) {
	d.calls.Add(1)
	return acceptAll{}.Dispatch(ctx, src, req)
}

// overBudget is what Pipeline.Reserve answers when the byte budget is full.
func overBudget() error {
	return fault.Throttled(errors.New("ingest overloaded: the requests in flight hold 64 MiB (INGEST_MAX_INFLIGHT_BYTES)"), 1500*time.Millisecond)
}

// TestAdmitRefusesBeforeDispatch: when the pipeline's byte budget is full,
// both the gRPC port (its tap, before the message is read) and the
// Connect handler refuse with RESOURCE_EXHAUSTED and the retry hint —
// a google.rpc.RetryInfo detail on the gRPC port, where a refusal before
// the call can carry no trailer — and the dispatcher never sees the
// request. Once Admit lets requests in again, they are served.
func TestAdmitRefusesBeforeDispatch(t *testing.T) {
	budget := &fakeBudget{}
	budget.full.Store(true)
	full := &budget.full
	disp := &countingDispatcher{}

	gs := grpcsrv.New(grpcsrv.Config{Addr: "127.0.0.1:0", MaxRecvBytes: 4 << 20, Budget: budget, Logger: slog.New(slog.DiscardHandler)}, disp, health.New())
	if err := gs.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gs.Shutdown(context.Background()) })
	cc, err := grpc.NewClient(gs.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	gcl := eventgrpcv1.NewEventServiceClient(cc)

	_, h := connectsrv.New(connectsrv.Config{Budget: budget}, disp)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h}
	go hs.Serve(lis)
	t.Cleanup(func() { hs.Close() })
	ccl := eventgrpcv1connect.NewEventServiceClient(http.DefaultClient, "http://"+lis.Addr().String())

	req := events("admit", "a-1", "a-2")
	_, err = gcl.Dispatch(context.Background(), req)
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("gRPC port over budget: %v, want RESOURCE_EXHAUSTED", err)
	}
	var hint time.Duration
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			hint = ri.GetRetryDelay().AsDuration()
		}
	}
	if hint != 1500*time.Millisecond {
		t.Fatalf("gRPC refusal's RetryInfo = %v, want 1.5s (details %v)", hint, st.Details())
	}

	_, err = ccl.Dispatch(context.Background(), connect.NewRequest(req))
	if connect.CodeOf(err) != connect.CodeResourceExhausted || metaOf(err).Get("Retry-After-Ms") != "1500" {
		t.Fatalf("Connect over budget: %v (Retry-After-Ms %q), want resource_exhausted with 1500", err, metaOf(err).Get("Retry-After-Ms"))
	}
	if n := disp.calls.Load(); n != 0 {
		t.Fatalf("the dispatcher saw %d refused requests, want 0", n)
	}

	full.Store(false)
	if _, err := gcl.Dispatch(context.Background(), req); err != nil {
		t.Fatalf("gRPC port within budget: %v", err)
	}
	if _, err := ccl.Dispatch(context.Background(), connect.NewRequest(req)); err != nil {
		t.Fatalf("Connect within budget: %v", err)
	}
	if n := disp.calls.Load(); n != 2 {
		t.Fatalf("the dispatcher saw %d requests, want 2", n)
	}
	if n := budget.held.Load(); n != 0 {
		t.Fatalf("the served requests still hold %d bytes of the budget, want 0", n)
	}
}

// fakeBudget refuses every reservation while full, and counts what is
// held otherwise.
type fakeBudget struct {
	full atomic.Bool
	held atomic.Int64
}

func (b *fakeBudget) Reserve(n int64) error {
	if b.full.Load() {
		return overBudget()
	}
	b.held.Add(n)
	return nil
}

func (b *fakeBudget) Release(n int64) { b.held.Add(-n) }

func (b *fakeBudget) Refused(string) {}
