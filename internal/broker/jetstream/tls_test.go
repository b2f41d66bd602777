package jetstream_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/broker/brokertest"
	"github.com/event-grpc/event-grpc/internal/broker/jetstream"
	"github.com/event-grpc/event-grpc/internal/tlsconf/tlsconftest"
)

// TestTLS: the broker publishes and consumes over tls:// against a
// nats-server (Debian's, the one the machine runs) of the test's own that
// requires TLS, with a certificate for "localhost" from a CA made for the
// test; a client that trusts another CA, or none, is not ready and says
// why (NotReady carries the last connection attempt's error).
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := tlsconftest.Localhost(t, dir, "nats")
	port := startTLSServer(t, dir, ca.File, cert, key)
	url := fmt.Sprintf("tls://localhost:%d", port)

	top := testTopology(t, nil)
	b := newBroker(t, jetstream.Config{URL: url, Stream: "TLS", TLS: ca.Client(t), Topology: top})
	defer b.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	brokertest.RoundTrip(t, ctx, b, "ev.tx", "Click", top.Queues[1])

	wrong := tlsconftest.NewCA(t, t.TempDir()).Client(t)
	want := map[string]string{"wrong CA": "unknown authority", "no CA": "unknown authority"}
	for name, cfg := range map[string]jetstream.Config{
		"wrong CA": {URL: url, TLS: wrong},
		// nats:// without a CA file: the client goes over to TLS because
		// the server requires it, and the system's roots do not know the
		// test's CA.
		"no CA": {URL: fmt.Sprintf("nats://localhost:%d", port)},
	} {
		cfg.Stream, cfg.Topology = "TLS", top
		b, err := jetstream.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(ctx); err != nil {
			t.Errorf("%s: Start = %v, want nil (not ready, connecting in the background)", name, err)
		}
		// Not ready, and once an attempt has failed, saying why.
		var why error
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			if why = b.NotReady(); why == nil || strings.Contains(why.Error(), want[name]) {
				break
			}
		}
		_ = b.Close(context.Background())
		if why == nil || !strings.Contains(why.Error(), want[name]) {
			t.Errorf("%s: NotReady = %v, want not ready because of %q", name, why, want[name])
		}
	}
}

// startTLSServer runs nats-server with JetStream on a free port of its
// own, taking TLS connections only, until the test ends.
func startTLSServer(t *testing.T, dir, caFile, cert, key string) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, `listen: "127.0.0.1:%d"
jetstream { store_dir: %q }
tls { cert_file: %q, key_file: %q, ca_file: %q, timeout: 2 }
`, port, filepath.Join(dir, "js"), cert, key, caFile), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nats-server", "-c", conf)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("nats-server: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return port
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server with TLS did not listen on %d: %v", port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
