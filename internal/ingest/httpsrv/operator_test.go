package httpsrv_test

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-grpc/event-grpc/internal/health"
	"github.com/event-grpc/event-grpc/internal/ingest/httpsrv"
	"github.com/event-grpc/event-grpc/internal/sink/duckdb"
)

// serveWith runs the HTTP server with cfg over a fresh DuckDB store on a
// free loopback port, reporting readiness in state, until the test ends.
func serveWith(t *testing.T, cfg httpsrv.Config, state *health.State) *httpsrv.Server {
	t.Helper()
	ctx := context.Background()
	store, err := duckdb.New(ctx, duckdb.Config{Path: filepath.Join(t.TempDir(), "o.duckdb")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close(context.Background()) })
	cfg.Addr = "127.0.0.1:0"
	cfg.MaxBodyBytes = 1 << 20
	cfg.Querier = store
	cfg.QueryMaxRows = 10
	cfg.Logger = slog.New(slog.DiscardHandler)
	srv := httpsrv.New(cfg, nil, state)
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return srv
}

var jsonPost = map[string]string{"Content-Type": "application/json"}

// A reverse proxy on the same machine connects from loopback on behalf of
// anyone: a request that carries Forwarded, X-Forwarded-For or X-Real-IP
// is never local, so without QUERY_ALLOW_REMOTE it is refused, and with
// it it needs the token. On e066805 each was served as local.
func TestOperatorForwardedIsNotLocal(t *testing.T) {
	for _, remote := range []bool{false, true} {
		base, _ := serve(t, remote)
		if code, body := do(t, "POST", base+"/v1/query", "", jsonPost, "SELECT 1"); code != 200 {
			t.Fatalf("loopback, no proxy headers: %d %s, want 200", code, body)
		}
		for _, h := range []string{"Forwarded", "X-Forwarded-For", "X-Real-IP", "x-forwarded-for"} {
			hdr := map[string]string{"Content-Type": "application/json", h: "127.0.0.1"}
			if h == "Forwarded" {
				hdr[h] = "for=127.0.0.1"
			}
			want := http.StatusForbidden
			if remote {
				want = http.StatusUnauthorized
			}
			if code, body := do(t, "POST", base+"/v1/query", "", hdr, "SELECT 1"); code != want {
				t.Fatalf("remote=%v, %s from loopback: %d %s, want %d", remote, h, code, body, want)
			}
			if code, body := do(t, "PUT", base+"/heartbeat?beat=true", "", map[string]string{h: "127.0.0.1"}, ""); code != want {
				t.Fatalf("remote=%v, PUT /heartbeat with %s: %d %s, want %d", remote, h, code, body, want)
			}
			if remote {
				hdr["Authorization"] = "Bearer " + adminToken
				if code, body := do(t, "POST", base+"/v1/query", "", hdr, "SELECT 1"); code != 200 {
					t.Fatalf("%s with the token: %d %s, want 200", h, code, body)
				}
			}
		}
	}
}

// Outside ENV=local (RequireToken) even a loopback request needs the
// token on the public listener; without a token configured the routes
// are closed with an error that says how to open them.
func TestOperatorRequireToken(t *testing.T) {
	base := "http://" + serveWith(t, httpsrv.Config{RequireToken: true, AdminToken: adminToken}, health.New()).Addr().String()
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline"} {
		if code, body := do(t, "GET", base+path, "", nil, ""); code != http.StatusUnauthorized {
			t.Fatalf("GET %s without token: %d %s, want 401", path, code, body)
		}
	}
	if code, body := do(t, "POST", base+"/v1/query", "", jsonPost, "SELECT 1"); code != http.StatusUnauthorized {
		t.Fatalf("query without token: %d %s, want 401", code, body)
	}
	if code, body := do(t, "POST", base+"/v1/query", "", map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + adminToken}, "SELECT 1"); code != 200 {
		t.Fatalf("query with token: %d %s, want 200", code, body)
	}
	closed := "http://" + serveWith(t, httpsrv.Config{RequireToken: true}, health.New()).Addr().String()
	if code, body := do(t, "POST", closed+"/v1/query", "", jsonPost, "SELECT 1"); code != http.StatusForbidden {
		t.Fatalf("no ADMIN_TOKEN, no ADMIN_ADDR: %d %s, want 403", code, body)
	}
}

// With ADMIN_ADDR the operator routes are on that listener alone: 404 on
// the public port, served there from loopback without a token even
// outside ENV=local. METRICS_ADDR moves /metrics the same way.
func TestOperatorListener(t *testing.T) {
	srv := serveWith(t, httpsrv.Config{RequireToken: true, AdminAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0", Gatherer: prometheus.NewRegistry()}, health.New())
	pub := "http://" + srv.Addr().String()
	adm := "http://" + srv.AdminAddrBound().String()
	met := "http://" + srv.MetricsAddrBound().String()
	if code, _ := do(t, "GET", pub+"/heartbeat", "", nil, ""); code != 200 {
		t.Fatalf("GET /heartbeat on the public port: %d", code)
	}
	for _, rt := range []struct{ method, path, body string }{
		{"POST", "/v1/query", "SELECT 1"}, {"PUT", "/heartbeat?beat=true", ""}, {"GET", "/debug/pprof/", ""}, {"GET", "/metrics", ""},
	} {
		if code, body := do(t, rt.method, pub+rt.path, "", jsonPost, rt.body); code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
			t.Fatalf("%s %s on the public port: %d %s, want 404", rt.method, rt.path, code, body)
		}
	}
	if code, body := do(t, "POST", adm+"/v1/query", "", jsonPost, "SELECT 1"); code != 200 {
		t.Fatalf("query on the operator listener: %d %s", code, body)
	}
	if code, body := do(t, "PUT", adm+"/heartbeat?beat=true", "", nil, ""); code != 200 {
		t.Fatalf("PUT /heartbeat on the operator listener: %d %s", code, body)
	}
	// Still no proxy and no DNS rebinding on the operator listener.
	if code, body := do(t, "POST", adm+"/v1/query", "", map[string]string{"Content-Type": "application/json", "X-Forwarded-For": "203.0.113.9"}, "SELECT 1"); code != http.StatusForbidden {
		t.Fatalf("forwarded request on the operator listener: %d %s, want 403", code, body)
	}
	if code, body := do(t, "POST", adm+"/v1/query", "evil.example", jsonPost, "SELECT 1"); code != http.StatusForbidden {
		t.Fatalf("foreign Host on the operator listener: %d %s, want 403", code, body)
	}
	if code, body := do(t, "GET", met+"/metrics", "", nil, ""); code != 200 {
		t.Fatalf("/metrics on the metrics listener: %d %s", code, body)
	}
}
