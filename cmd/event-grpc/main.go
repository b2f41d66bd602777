// Command event-grpc is the event ingestion and distribution service.
//
//	event-grpc                      serve (zero configuration: embedded broker and store)
//	event-grpc query 'SQL'          ask the running server's store; rows as TSV
//	event-grpc bench [flags]        load over real gRPC; ends with events/s=… p50_ms=… p99_ms=… errors=…
//	event-grpc topology             print the broker topology in force (YAML)
//	event-grpc dlq list QUEUE       count and sample a queue's dead letters
//	event-grpc dlq replay QUEUE     move dead letters back to their original queue
//	event-grpc tail [--type T]      print events as they are accepted
//
// Configuration is environment variables (see README), with ENV selecting
// an optional .env.<ENV> file.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, stop, stderr)
	case "query":
		err = query(ctx, args, stdout)
	case "bench":
		err = bench(ctx, args, stdout, stderr)
	case "topology":
		err = printTopology(stdout)
	case "dlq":
		err = dlq(ctx, args, stdout)
	case "tail":
		err = tailCmd(ctx, args, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "event-grpc: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		if !errors.Is(err, errQuiet) {
			fmt.Fprintf(stderr, "event-grpc %s: %v\n", cmd, err)
		}
		return 1
	}
	return 0
}

// errQuiet means the command already reported its failure.
var errQuiet = errors.New("failed")

const usage = `usage: event-grpc [command]

commands:
  serve (default)      run the service
  query 'SQL'          run a read-only query on the running server's store (TSV out)
  bench [flags]        generate load over gRPC (event-grpc bench -h)
  topology             print the broker topology in force
  dlq list QUEUE       count and sample the dead letters of QUEUE
  dlq replay QUEUE [--limit N]
                       move QUEUE's dead letters back to it
  tail [--type T] [--source S] [--where field=value] [--sample F] [--json]
                       print events as the running server accepts them
`
