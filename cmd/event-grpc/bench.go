package main

import (
	"context"
	"io"

	benchpkg "github.com/event-grpc/event-grpc/internal/bench"
)

func bench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return benchpkg.Command(ctx, args, stdout, stderr)
}
