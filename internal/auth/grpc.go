package auth

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
)

// ingestPrefix selects the methods that need credentials; health and
// reflection stay open.
var ingestPrefix = "/" + eventgrpcv1.EventService_ServiceDesc.ServiceName + "/"

// deterministic is the encoding a gRPC signature covers.
var deterministic = proto.MarshalOptions{Deterministic: true}

// UnaryInterceptor authenticates calls to the EventService and puts the
// client id in their context; other services pass through. Refusals are
// UNAUTHENTICATED. With mode off every call passes through.
func (a *Authenticator) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if a.mode == ModeOff || !strings.HasPrefix(info.FullMethod, ingestPrefix) {
			return handler(ctx, req)
		}
		md, _ := metadata.FromIncomingContext(ctx)
		body := func() ([]byte, *failure) {
			m, ok := req.(proto.Message)
			if !ok {
				return nil, fail(ReasonMalformed, "request is not a protobuf message")
			}
			b, err := deterministic.Marshal(m)
			if err != nil {
				return nil, fail(ReasonMalformed, "request cannot be encoded for signature verification")
			}
			return b, nil
		}
		id, f := a.authenticate(md.Get, body)
		if f != nil {
			a.refused(f)
			return nil, status.Error(codes.Unauthenticated, f.msg)
		}
		a.accepted(id)
		return handler(WithClientID(ctx, id), req)
	}
}
