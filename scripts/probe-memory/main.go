// Command probe-memory runs the memory attacks of issue 18 against a
// running event-grpc (see scripts/probe-memory.sh, which builds and starts
// it) and prints the server's peak RSS during each, whether a legitimate
// client was served meanwhile, and the refusal metrics.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/ingest/ingesttest"
)

const dispatchPath = "/eventgrpc.v1.EventService/dispatch"

var (
	grpcAddr = flag.String("grpc", "", "the server's gRPC address")
	httpAddr = flag.String("http", "", "the server's HTTP address")
	pid      = flag.Int("pid", 0, "the server's process id, for its RSS")
	client   = flag.String("client", "probe", "a configured client id")
	key      = flag.String("key", "", "its API key")
	hold     = flag.Duration("hold", 12*time.Second, "how long the half-sent attacks hold their connections")
)

func main() {
	flag.Parse()
	if *grpcAddr == "" || *httpAddr == "" || *pid == 0 || *key == "" {
		log.Fatal("usage: probe-memory -grpc ADDR -http ADDR -pid PID -key KEY [-client ID]")
	}
	creds := []string{"x-client-id", *client, "authorization", "Bearer " + *key}
	fmt.Printf("%-44s %10s %10s %8s  %s\n", "attack", "peakRSS", "VmHWM", "legit", "answers")
	fmt.Printf("%-44s %10s %10s\n", "idle", mib(rss("VmRSS")), mib(rss("VmHWM")))

	msg := emptyEvents(2_000_000)
	for _, authd := range []bool{false, true} {
		name := "16 x 2M-empty-event calls, no credentials"
		md := metadata.MD{}
		if authd {
			name = "16 x 2M-empty-event calls, authenticated"
			md = metadata.Pairs(creds...)
		}
		run(name, 0, func(ctx context.Context) string {
			cc := dial()
			defer cc.Close()
			codes := map[string]int{}
			var mu sync.Mutex
			var wg sync.WaitGroup
			for range 16 {
				wg.Go(func() {
					var out []byte
					err := cc.Invoke(metadata.NewOutgoingContext(ctx, md), dispatchPath, msg, &out, grpc.ForceCodecV2(rawCodec{}))
					mu.Lock()
					codes[status.Code(err).String()]++
					mu.Unlock()
				})
			}
			wg.Wait()
			return fmt.Sprint(codes)
		})
	}
	grpcBody := ingesttest.GRPCFrame(4_194_000, make([]byte, 4_193_800-5))
	for _, authd := range []bool{false, true} {
		name, md := "2 conns x 256 half-sent 4 MB gRPC streams, no credentials", []string(nil)
		if authd {
			name, md = "2 conns x 256 half-sent 4 MB gRPC streams, authenticated", creds
		}
		run(name, *hold, func(ctx context.Context) string {
			return halfSend(ctx, 2, ingesttest.HalfSend{Addr: *grpcAddr, Streams: 256,
				Header: ingesttest.GRPCHeader(*grpcAddr, dispatchPath, md...), Body: grpcBody})
		})
	}
	httpBody := make([]byte, 4_193_800)
	for _, authd := range []bool{false, true} {
		name, hdr := "200 half-sent 4 MB h2c bodies, no credentials", []string(nil)
		if authd {
			name, hdr = "200 half-sent 4 MB h2c bodies, authenticated", creds
		}
		run(name, *hold, func(ctx context.Context) string {
			// The server allows INGEST_MAX_STREAMS per connection: the
			// 200 streams come on as many connections as that takes.
			return halfSend(ctx, 4, ingesttest.HalfSend{Addr: *httpAddr, Streams: 50,
				Header: ingesttest.HTTPHeader(*httpAddr, "/v1/events", 4_194_000, hdr...), Body: httpBody})
		})
	}
	fmt.Println()
	fmt.Println("refusal metrics:")
	resp, err := http.Get("http://" + *httpAddr + "/metrics")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "eventgrpc_ingest_requests_refused_unread_total") || strings.HasPrefix(l, "eventgrpc_auth_failures_total") ||
			strings.HasPrefix(l, "eventgrpc_ingest_inflight_bytes") {
			fmt.Println("  " + l)
		}
	}
}

// run runs attack for at least d while sampling the server's RSS and
// sending a legitimate call every 250 ms on its own connection.
func run(name string, d time.Duration, attack func(ctx context.Context) string) {
	ctx, cancel := context.WithCancel(context.Background())
	var peak atomic.Int64
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			peak.Store(max(peak.Load(), rss("VmRSS")))
			time.Sleep(20 * time.Millisecond)
		}
	})
	wg.Go(func() {
		cc := dial()
		defer cc.Close()
		cl := eventgrpcv1.NewEventServiceClient(cc)
		ctx := metadata.NewOutgoingContext(ctx, metadata.Pairs("x-client-id", *client, "authorization", "Bearer "+*key))
		for i := 0; ctx.Err() == nil; i++ {
			cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := cl.Dispatch(cctx, &eventgrpcv1.Events{Events: []*eventgrpcv1.Event{{
				Id: fmt.Sprintf("probe-%d-%d", time.Now().UnixNano(), i), EventOf: &eventgrpcv1.Event_TestEvent{TestEvent: &eventgrpcv1.TestEvent{}}}}})
			ccancel()
			if ctx.Err() != nil {
				break
			}
			if err == nil {
				ok.Add(1)
			} else {
				failed.Add(1)
			}
			time.Sleep(250 * time.Millisecond)
		}
	})
	start := time.Now()
	answers := attack(ctx)
	if rest := d - time.Since(start); rest > 0 {
		time.Sleep(rest)
	}
	time.Sleep(300 * time.Millisecond)
	cancel()
	wg.Wait()
	fmt.Printf("%-44s %10s %10s %4d/%-3d  %s\n", name, mib(peak.Load()), mib(rss("VmHWM")), ok.Load(), ok.Load()+failed.Load(), answers)
	time.Sleep(time.Second) // let the server settle between attacks
}

// halfSend runs h on conns connections until ctx ends (the caller's hold)
// and sums what the server answered.
func halfSend(ctx context.Context, conns int, h ingesttest.HalfSend) string {
	hctx, cancel := context.WithTimeout(ctx, *hold)
	defer cancel()
	var mu sync.Mutex
	sum := map[string]int{}
	opened := 0
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			r, err := h.Run(hctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				sum["error: "+err.Error()]++
			}
			opened += r.Opened
			for k, v := range r.Answers {
				sum[k] += v
			}
		})
	}
	wg.Wait()
	return fmt.Sprintf("opened %d: %v", opened, sum)
}

func dial() *grpc.ClientConn {
	cc, err := grpc.NewClient(*grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	return cc
}

// rss reads a field of /proc/PID/status in bytes.
func rss(field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", *pid))
	if err != nil {
		log.Fatalf("the server is gone: %v", err)
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n << 10
		}
	}
	return 0
}

func mib(n int64) string { return fmt.Sprintf("%dMiB", n>>20) }

func emptyEvents(n int) []byte {
	b := make([]byte, 0, 2*n)
	for range n {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendVarint(b, 0)
	}
	return b
}

// rawCodec sends a []byte as the message as it is.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }
func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}
func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*(v.(*[]byte)) = data.Materialize()
	return nil
}
