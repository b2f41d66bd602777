// Command event-grpc is the event ingestion and distribution service.
//
//	event-grpc                      serve (zero configuration: embedded broker and store)
//	event-grpc query 'SQL'          ask the running server's store; rows as TSV
//	event-grpc bench [flags]        load over real gRPC; ends with events/s=… p50_ms=… p99_ms=… errors=…
//	event-grpc topology             print the broker topology in force (YAML)
//	event-grpc dlq list QUEUE       count and sample a queue's dead letters
//	event-grpc dlq replay QUEUE     move dead letters back to their original queue
//	event-grpc tail [--type T]      print events as they are accepted
//	event-grpc version              print the build (also --version)
//
// Every command takes -h / --help: it prints the command's help and exits
// 0. The commands that call the running server find it at the addresses
// PORT, GIN_PORT and LISTEN_ADDR give it (--grpc / --http override).
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

	"github.com/event-grpc/event-grpc/internal/buildinfo"
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
	if h, ok := help[cmd]; ok && wantsHelp(args) {
		fmt.Fprint(stdout, h)
		if cmd == "bench" { // and its flags, with the resolved defaults
			fmt.Fprintln(stdout)
			_ = bench(ctx, []string{"-h"}, stdout, stdout) // flag.ErrHelp
		}
		return 0
	}
	var err error
	switch cmd {
	case "serve":
		if len(args) > 0 {
			err = fmt.Errorf("serve takes no arguments (configuration is environment variables; see event-grpc serve --help), got %q", args)
			break
		}
		err = serve(ctx, stop, stderr)
	case "query":
		err = query(ctx, args, stdout)
	case "bench":
		err = bench(ctx, args, stdout, stderr)
	case "topology":
		if len(args) > 0 {
			err = fmt.Errorf("topology takes no arguments, got %q", args)
			break
		}
		err = printTopology(stdout)
	case "dlq":
		err = dlq(ctx, args, stdout)
	case "tail":
		err = tailCmd(ctx, args, stdout, stderr)
	case "version", "--version":
		fmt.Fprint(stdout, buildinfo.Get().String())
		return 0
	case "help", "-h", "--help", "-help":
		if len(args) > 0 {
			if h, ok := help[args[0]]; ok {
				fmt.Fprint(stdout, h)
				return 0
			}
		}
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

// wantsHelp reports whether args ask for help (-h, -help, --help) before
// a "--" that ends the flags.
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// errQuiet means the command already reported its failure.
var errQuiet = errors.New("failed")

const usage = `usage: event-grpc [command] [-h]

commands:
  serve (default)      run the service
  query 'SQL'          run a read-only query on the running server's store
                       [--format table|tsv|json] (default: table on a terminal, else tsv)
  bench [flags]        generate load over gRPC (event-grpc bench -h)
  topology             print the broker topology in force
  dlq list QUEUE       count and sample the dead letters of QUEUE
  dlq replay QUEUE [--limit N]
                       move QUEUE's dead letters back to it
  tail [--type T] [--source S] [--where field=value] [--sample F] [--json]
                       print events as the running server accepts them
  version              print the build: version, VCS revision and time, Go version (also --version)

Every command takes -h / --help. The commands that call a running server
find it where PORT (gRPC, default 8017), GIN_PORT (HTTP, default 8019) and
LISTEN_ADDR (default loopback) put it; --grpc and --http override them.
`

// addrHelp is the address part of the client commands' help.
const addrHelp = `
The server is found where the service's own variables put it: PORT (gRPC,
default 8017), GIN_PORT (HTTP, default 8019) and LISTEN_ADDR (host, default
127.0.0.1; 0.0.0.0 means this machine), from the environment or .env.$ENV.
ADMIN_TOKEN, when set, is sent as the Bearer token of the operator endpoints.
`

// help is each command's -h text.
var help = map[string]string{
	"serve": `usage: event-grpc [serve]

Runs the service: gRPC on PORT (8017), HTTP on GIN_PORT (8019), with
zero configuration an embedded NATS JetStream broker and a DuckDB store
under DATA_DIR (./data). Every setting is an environment variable (the
README's Configuration table), optionally from a .env.$ENV file.
With AUTH_MODE=off (the default when ENV=local) both ports listen on
127.0.0.1 unless LISTEN_ADDR says otherwise (LISTEN_ADDR=0.0.0.0).
SIGINT/SIGTERM drain and stop it; a second signal exits at once.
`,
	"query": `usage: event-grpc query [--format table|tsv|json] [--http HOST:PORT] 'SQL'

Runs one read-only SQL statement on the running server's analytics store
and prints the rows with a header row of column names:
  table   aligned columns (the default on a terminal)
  tsv     tab-separated, header first (the default otherwise)
  json    one JSON object per row, keyed by column
` + addrHelp,
	"bench": `usage: event-grpc bench [flags]

Sends synthetic events over gRPC and prints
  events/s=… p50_ms=… p99_ms=… errors=…
--grpc is an alias of --target.
` + addrHelp,
	"topology": `usage: event-grpc topology

Prints the broker topology in force (the built-in one, or TOPOLOGY_FILE)
as YAML: exchanges, queues with their consumers and tables.
`,
	"dlq": `usage: event-grpc dlq list QUEUE [--limit N] [--http HOST:PORT]
       event-grpc dlq replay QUEUE [--limit N] [--http HOST:PORT]

list:   the count of QUEUE's dead letters and a sample (default 10) with headers
replay: moves them back to QUEUE (default all there when it starts), each
        removed from the error queue only after its republish is confirmed
` + addrHelp,
	"tail": `usage: event-grpc tail [--type T] [--source S] [--where field=value] [--sample F] [--json] [--http HOST:PORT]

Prints events as the running server accepts them, one line each (time,
source, type, id, header fields, payload), until interrupted.
` + addrHelp,
	"version": `usage: event-grpc version   (or event-grpc --version)

Prints the build: version, VCS revision and time, whether the tree was
modified, the Go version and the platform.
`,
}
