package httpsrv_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/health"
	"github.com/event-grpc/event-grpc/internal/ingest/httpsrv"
	"github.com/event-grpc/event-grpc/internal/ingest/ingesttest"
	"github.com/event-grpc/event-grpc/internal/tail"
)

// stalledTail opens GET /v1/tail and never reads the answer.
func stalledTail(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).SetReadBuffer(4096)
	t.Cleanup(func() { c.Close() })
	if _, err := fmt.Fprintf(c, "GET /v1/tail HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	return c
}

// Eight live-tail readers that stop reading while 4 MiB requests flow add
// no more than 64 MB to the heap, and each is dropped once a write has
// waited TailWriteTimeout. On e066805 each reader's channel held up to 64
// whole requests and a stalled reader was never dropped.
func TestTailStalledReadersBounded(t *testing.T) {
	hub := must(tail.New(tail.Config{}))
	srv := httpsrv.New(httpsrv.Config{Addr: "127.0.0.1:0", MaxBodyBytes: 5 << 20, TailWriteTimeout: 15 * time.Second,
		Logger: slog.New(slog.DiscardHandler)}, hub.Wrap(ingesttest.AcceptAll{}), health.New())
	srv.MountTail(hub)
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	addr := srv.Addr().String()

	base := ingesttest.HeapInUse()
	for range 8 {
		stalledTail(t, addr)
	}
	deadline := time.Now().Add(5 * time.Second)
	for hub.Subscribers() < 8 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 8 tail readers attached", hub.Subscribers())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A 4 MiB request of 200 events of 20 KiB each.
	var body bytes.Buffer
	body.WriteString(`{"events":[`)
	for i := range 200 {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"id":"e%d","customEvent":{"name":"blob","params":{"v":"%s"}}}`, i, strings.Repeat("x", 20<<10))
	}
	body.WriteString(`]}`)
	t.Logf("request body %.1f MiB", float64(body.Len())/(1<<20))
	var peak uint64
	for i := range 24 {
		resp, err := http.Post("http://"+addr+"/v1/events", "application/json", bytes.NewReader(body.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %s", i, resp.Status)
		}
		if i%4 == 3 {
			peak = max(peak, ingesttest.HeapInUse())
		}
	}
	if n := hub.Subscribers(); n != 8 {
		t.Fatalf("%d readers attached while measuring, want 8 (the write timeout is too short for this machine)", n)
	}
	grew := int64(peak) - int64(base)
	t.Logf("8 stalled tail readers, 24 requests of 4 MiB: heap grew %.1f MB at most", float64(grew)/1e6)
	if grew > 64e6 {
		t.Fatalf("8 stalled tail readers held %d bytes, want at most 64 MB", grew)
	}
	deadline = time.Now().Add(15*time.Second + 15*time.Second)
	for hub.Subscribers() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d stalled tail readers still attached 15 s after the write timeout", hub.Subscribers())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A reader that reads is served.
	resp, err := http.Get("http://" + addr + "/v1/tail")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, ": tail attached") {
		t.Fatalf("a reading tail: %q, %v", line, err)
	}
}
