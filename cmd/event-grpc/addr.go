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

// httpFlag adds --http, defaulting to the resolved HTTP address.
func httpFlag(fs *flag.FlagSet) *string {
	_, h := serverAddrs()
	return fs.String("http", h, "the server's HTTP address (default from GIN_PORT and LISTEN_ADDR)")
}
