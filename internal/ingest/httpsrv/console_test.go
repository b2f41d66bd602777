package httpsrv_test

import (
	"context"
	"log/slog"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-grpc/event-grpc/internal/health"
	"github.com/event-grpc/event-grpc/internal/ingest/httpsrv"
)

// The console (the status page, its files and its data) may not be framed
// by another site: every answer carries Content-Security-Policy:
// frame-ancestors 'none' and X-Frame-Options: DENY, refusals included.
// On e066805 it sent neither, so a page could overlay it (clickjacking).
func TestConsoleRefusesFraming(t *testing.T) {
	ctx := context.Background()
	srv := httpsrv.New(httpsrv.Config{Addr: "127.0.0.1:0", MaxBodyBytes: 1 << 20, Logger: slog.New(slog.DiscardHandler)}, nil, health.New())
	srv.MountStatus(httpsrv.StatusConfig{Gatherer: prometheus.NewRegistry()})
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	base := "http://" + srv.Addr().String()
	for _, c := range []struct {
		path, host string
		code       int
	}{
		{"/", "", 200},
		{"/admin/status", "", 200},
		{"/", "evil.example", 403},
	} {
		req, _ := http.NewRequest(http.MethodGet, base+c.path, nil)
		if c.host != "" {
			req.Host = c.host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Fatalf("%s (host %q): %s, want %d", c.path, c.host, resp.Status, c.code)
		}
		if got := resp.Header.Get("Content-Security-Policy"); got != "frame-ancestors 'none'" {
			t.Fatalf("%s: Content-Security-Policy %q", c.path, got)
		}
		if got := resp.Header.Get("X-Frame-Options"); got != "DENY" {
			t.Fatalf("%s: X-Frame-Options %q", c.path, got)
		}
	}
}
