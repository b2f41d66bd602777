package connectsrv_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/gen/eventgrpc/v1/eventgrpcv1connect"
	"github.com/event-grpc/event-grpc/internal/health"
	"github.com/event-grpc/event-grpc/internal/ingest/connectsrv"
	"github.com/event-grpc/event-grpc/internal/ingest/grpcsrv"
	"github.com/event-grpc/event-grpc/internal/pipeline"
)

// acceptAll answers every event accepted, so the benchmarks compare the
// servers' protocol cost, not the pipeline.
type acceptAll struct{}

func (acceptAll) Dispatch(_ context.Context, _ pipeline.Source, req *eventgrpcv1.Events) (*eventgrpcv1.Response, error) {
	resp := &eventgrpcv1.Response{Status: eventgrpcv1.Status_STATUS_OK, Results: make([]*eventgrpcv1.EventResult, len(req.Events))}
	for i, ev := range req.Events {
		resp.Results[i] = &eventgrpcv1.EventResult{Index: int32(i), EventId: ev.Id, Accepted: true}
	}
	resp.Accepted = int32(len(req.Events))
	return resp, nil
}

func benchRequest() *eventgrpcv1.Events {
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = fmt.Sprintf("018f0c1e-0000-7000-8000-%012d", i)
	}
	return events("bench", ids...)
}

// BenchmarkGRPCGo: a 100-event dispatch to grpc-go (the gRPC port).
func BenchmarkGRPCGo(b *testing.B) {
	s := grpcsrv.New(grpcsrv.Config{Addr: "127.0.0.1:0", MaxRecvBytes: 4 << 20, Logger: slog.New(slog.DiscardHandler)}, acceptAll{}, health.New())
	if err := s.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	dispatchWithGRPCGo(b, s.Addr().String())
}

// dispatchWithGRPCGo times b.N 100-event dispatches from a grpc-go client
// to addr.
func dispatchWithGRPCGo(b *testing.B, addr string) {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Close()
	cl := eventgrpcv1.NewEventServiceClient(cc)
	req := benchRequest()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := cl.Dispatch(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConnectGRPC: the same call, gRPC protocol, to connect-go's
// handler over h2c, with the same grpc-go client.
func BenchmarkConnectGRPC(b *testing.B) {
	_, h := connectsrv.New(connectsrv.Config{}, acceptAll{})
	srv := &http.Server{Handler: h, Protocols: unencryptedHTTP2()}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(lis)
	defer srv.Close()
	dispatchWithGRPCGo(b, lis.Addr().String())
}

// BenchmarkConnectUnary: the same call over the Connect protocol (binary,
// HTTP/1.1), as the Go SDK and browsers send it.
func BenchmarkConnectUnary(b *testing.B) {
	_, h := connectsrv.New(connectsrv.Config{}, acceptAll{})
	srv := &http.Server{Handler: h}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(lis)
	defer srv.Close()
	cl := eventgrpcv1connect.NewEventServiceClient(http.DefaultClient, "http://"+lis.Addr().String())
	req := connect.NewRequest(benchRequest())
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := cl.Dispatch(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}
