package grpcsrv_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/gen/eventgrpc/v1/eventgrpcv1connect"
	"github.com/event-grpc/event-grpc/internal/health"
	"github.com/event-grpc/event-grpc/internal/ingest/grpcsrv"
	"github.com/event-grpc/event-grpc/internal/pipeline"
)

type counting struct{ events, calls atomic.Int64 }

func (c *counting) Dispatch(_ context.Context, _ pipeline.Source, req *eventgrpcv1.Events) (*eventgrpcv1.Response, error) {
	c.calls.Add(1)
	c.events.Add(int64(len(req.GetEvents())))
	return &eventgrpcv1.Response{Status: eventgrpcv1.Status_STATUS_OK, Accepted: int32(len(req.GetEvents()))}, nil
}

// TestGzipMessages: the gRPC port takes gzip-compressed messages (mobile
// and backend clients compress), and a message that inflates past
// GRPC_MAX_RECV_BYTES is refused as resource_exhausted before it reaches
// the pipeline: a small compressed body cannot make the server hold more
// than the bound it admitted. The client is connect-go speaking gRPC: its
// gzip is its own, so the test proves what the server registers (grpc-go's
// compressors are one registry per process).
func TestGzipMessages(t *testing.T) {
	d := &counting{}
	s := grpcsrv.New(grpcsrv.Config{Addr: "127.0.0.1:0", MaxRecvBytes: 1 << 20, Logger: slog.New(slog.DiscardHandler)}, d, health.New())
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	hc := &http.Client{Transport: &http.Transport{Protocols: &protocols}}
	defer hc.CloseIdleConnections()
	c := eventgrpcv1connect.NewEventServiceClient(hc, "http://"+s.Addr().String(), connect.WithGRPC(), connect.WithSendGzip())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	req := &eventgrpcv1.Events{Header: &eventgrpcv1.Header{UserId: "u1"}}
	for range 100 {
		req.Events = append(req.Events, &eventgrpcv1.Event{Timestamp: "1700000000000", EventOf: &eventgrpcv1.Event_LaunchEvent{LaunchEvent: &eventgrpcv1.LaunchEvent{}}})
	}
	resp, err := c.Dispatch(ctx, connect.NewRequest(req))
	if err != nil || resp.Msg.GetAccepted() != 100 || d.events.Load() != 100 {
		t.Fatalf("gzip dispatch: %v %v; the pipeline saw %d events", resp, err, d.events.Load())
	}

	// 8 MiB of one repeated byte: ~8 KiB compressed, 8 times the bound.
	bomb := &eventgrpcv1.Events{Events: []*eventgrpcv1.Event{{EventOf: &eventgrpcv1.Event_CustomEvent{CustomEvent: &eventgrpcv1.CustomEvent{
		Name: "bomb", Params: map[string]string{"v": strings.Repeat("a", 8<<20)}}}}}}
	_, err = c.Dispatch(ctx, connect.NewRequest(bomb))
	if connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("a message inflating past the bound: %v, want resource_exhausted", err)
	}
	if d.calls.Load() != 1 {
		t.Fatalf("the pipeline was called %d times, want once (the bomb must not reach it)", d.calls.Load())
	}
}
