package main

import (
	"flag"
	"os"

	"github.com/event-grpc/event-grpc/internal/config"
)

// serverAddrs are the gRPC and HTTP addresses of the server this
// environment starts (PORT, GIN_PORT, LISTEN_ADDR, .env.$ENV): the one
// resolution every client command uses.
func serverAddrs() (grpcAddr, httpAddr string) {
	return config.ClientAddrs(os.LookupEnv, ".")
}

// httpFlag adds --http, defaulting to the server's operator listener
// (ADMIN_ADDR) when one is set, else the resolved HTTP address: the
// commands that use it (query, tail, dlq) call operator endpoints.
func httpFlag(fs *flag.FlagSet) *string {
	_, h := serverAddrs()
	if a := os.Getenv("ADMIN_ADDR"); a != "" {
		h = a
	}
	return fs.String("http", h, "the server's HTTP address (default ADMIN_ADDR when set, else from GIN_PORT and LISTEN_ADDR)")
}
