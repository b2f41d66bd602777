package ingest

import (
	"fmt"
	"net"

	"golang.org/x/net/netutil"
)

// Listen listens on addr (TCP) for a front door named what ("grpc",
// "http"), accepting at most maxConns connections at once (0: no bound).
func Listen(what, addr string, maxConns int) (net.Listener, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s listen %s: %w", what, addr, err)
	}
	if maxConns > 0 {
		lis = netutil.LimitListener(lis, maxConns)
	}
	return lis, nil
}
