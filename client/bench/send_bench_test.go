package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"

	"github.com/event-grpc/event-grpc/client"
)

// serverEnv, set, makes the test binary serve acceptAll (serveAcceptAll)
// instead of running tests: the server of BenchmarkSend, in a process of
// its own so that the benchmark's CPU is the client's alone.
const serverEnv = "EVENTGRPC_BENCH_SEND_SERVER"

// serverDelayEnv, set to a duration, makes the server of serverEnv wait
// that long before it answers each call.
const serverDelayEnv = "EVENTGRPC_BENCH_SEND_SERVER_DELAY"

// acceptAll accepts every event with a result each, as the service
// answers, after delay.
type acceptAll struct {
	eventgrpcv1.UnimplementedEventServiceServer
	delay time.Duration
}

func (s acceptAll) Dispatch(_ context.Context, req *eventgrpcv1.Events) (*eventgrpcv1.Response, error) {
	time.Sleep(s.delay)
	resp := &eventgrpcv1.Response{Status: eventgrpcv1.Status_STATUS_OK, Accepted: int32(len(req.GetEvents())),
		Results: make([]*eventgrpcv1.EventResult, len(req.GetEvents()))}
	for i, ev := range req.GetEvents() {
		resp.Results[i] = &eventgrpcv1.EventResult{Index: int32(i), EventId: ev.GetId(), Accepted: true}
	}
	return resp, nil
}

// serveAcceptAll serves acceptAll on a free local port, prints the address
// on stdout and serves until stdin is closed.
func serveAcceptAll() int {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	delay, _ := time.ParseDuration(os.Getenv(serverDelayEnv))
	srv := grpc.NewServer()
	eventgrpcv1.RegisterEventServiceServer(srv, acceptAll{delay: delay})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); srv.Stop() }()
	fmt.Println(lis.Addr())
	if err := srv.Serve(lis); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startServerProcess runs serveAcceptAll in a child process until b ends.
func startServerProcess(b testing.TB, env ...string) string {
	addr, _ := startServerCmd(b, env...)
	return addr
}

// startServerCmd is startServerProcess that also returns the process.
func startServerCmd(b testing.TB, env ...string) (string, *exec.Cmd) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), serverEnv+"=1"), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = stdin.Close() // the server stops when its stdin closes
		_ = cmd.Wait()
	})
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("server process: %v", err)
	}
	return strings.TrimSpace(addr), cmd
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSend is the client side of one dispatch of DefaultBatch bench
// events (encode, send, wait, decode the 50 results), A/B: through
// client.Sender, which the bench sends with, and through a grpc-go client,
// which it sent with before; 16 dispatches in flight on one connection,
// as the bench's default 16 workers on its 4 connections are about. The
// server is another process: cpu-µs/op is the client's CPU alone.
func BenchmarkSend(b *testing.B) {
	addr := startServerProcess(b)
	p, err := newPool(1, "", time.Now())
	if err != nil {
		b.Fatal(err)
	}
	req := newBuilder(p, rand.New(rand.NewPCG(1, 2)), DefaultBatch, 0, false).build(time.Now())

	sender, err := client.NewSender(client.Config{URL: "http://" + addr, Protocol: client.ProtocolGRPC})
	if err != nil {
		b.Fatal(err)
	}
	defer sender.Close()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Close()
	stub := eventgrpcv1.NewEventServiceClient(cc)

	for _, bc := range []struct {
		name string
		send func(context.Context, *eventgrpcv1.Events) (*eventgrpcv1.Response, error)
	}{
		{"sender", sender.Send},
		{"grpc-go", func(ctx context.Context, req *eventgrpcv1.Events) (*eventgrpcv1.Response, error) {
			return stub.Dispatch(ctx, req)
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			if _, err := bc.send(ctx, req); err != nil { // connected before the clock starts
				b.Fatal(err)
			}
			b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := bc.send(ctx, req)
					if err != nil || resp.GetAccepted() != int32(len(req.Events)) {
						b.Errorf("%v %v", resp, err)
						return
					}
				}
			})
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
		})
	}
}
