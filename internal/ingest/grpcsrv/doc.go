// Package grpcsrv serves EventService.dispatch, grpc.health.v1 (tied to the
// service's readiness) and server reflection on the gRPC port.
package grpcsrv
