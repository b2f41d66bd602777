package grpcsrv_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/health"
	"github.com/event-grpc/event-grpc/internal/ingest/grpcsrv"
	"github.com/event-grpc/event-grpc/internal/pipeline"
)

type none struct{}

func (none) Dispatch(context.Context, pipeline.Source, *eventgrpcv1.Events) (*eventgrpcv1.Response, error) {
	return &eventgrpcv1.Response{}, nil
}

// GRPC_REFLECTION=false switches the reflection service off (Unimplemented);
// on, it lists the event service.
func TestReflectionSwitch(t *testing.T) {
	for _, on := range []bool{true, false} {
		s := grpcsrv.New(grpcsrv.Config{Addr: "127.0.0.1:0", MaxRecvBytes: 1 << 20, Reflection: on, Logger: slog.New(slog.DiscardHandler)}, none{}, health.New())
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		cc, err := grpc.NewClient(s.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		stream, err := reflectionpb.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
		if err == nil {
			err = stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
		}
		var resp *reflectionpb.ServerReflectionResponse
		if err == nil {
			resp, err = stream.Recv()
		}
		cancel()
		cc.Close()
		s.Shutdown(context.Background())
		if on {
			if err != nil || len(resp.GetListServicesResponse().GetService()) == 0 {
				t.Fatalf("reflection on: %v, %v", resp, err)
			}
		} else if status.Code(err) != codes.Unimplemented {
			t.Fatalf("reflection off: %v, want Unimplemented", err)
		}
	}
}
