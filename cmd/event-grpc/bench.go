package main

import (
	"context"
	"io"

	benchpkg "github.com/event-grpc/event-grpc/client/bench"
)

func bench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	grpcAddr, _ := serverAddrs()
	return benchpkg.CommandAt(ctx, grpcAddr, args, stdout, stderr)
}
