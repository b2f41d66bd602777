package apptest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-grpc/event-grpc/internal/app"
	"github.com/event-grpc/event-grpc/internal/config"
	"github.com/event-grpc/event-grpc/internal/config/configtest"
	"github.com/event-grpc/event-grpc/internal/ingest/httpsrv"
	"github.com/event-grpc/event-grpc/internal/telemetry"
)

// Start runs the service with env over the defaults (PORT and GIN_PORT 0,
// DATA_DIR a fresh temporary directory, LOG_LEVEL warn) and shuts it down
// when the test ends.
func Start(t testing.TB, env map[string]string) *app.App {
	a, _ := StartWith(t, env)
	return a
}

// StartWith is Start that also returns the registry the service's metrics
// are on.
func StartWith(t testing.TB, env map[string]string) (*app.App, *prometheus.Registry) {
	t.Helper()
	a, reg := run(t, env)
	t.Cleanup(func() { Stop(t, a) })
	return a, reg
}

// Run starts the service like Start but leaves stopping it to the caller
// (Stop), for tests that restart it on the same port and DATA_DIR.
func Run(t testing.TB, env map[string]string) *app.App {
	t.Helper()
	a, _ := run(t, env)
	return a
}

// New builds the service from env over the defaults of Start without
// starting it, and returns the registry its metrics are on.
func New(t testing.TB, env map[string]string) (*app.App, *prometheus.Registry) {
	t.Helper()
	vars := map[string]string{"PORT": "0", "GIN_PORT": "0", "DATA_DIR": t.TempDir(), "LOG_LEVEL": "warn"}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.Load(configtest.Env(vars), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reg := telemetry.NewRegistry()
	a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	return a, reg
}

func run(t testing.TB, env map[string]string) (*app.App, *prometheus.Registry) {
	t.Helper()
	a, reg := New(t, env)
	ctx := context.Background()
	if err := a.Start(ctx); err != nil {
		a.Shutdown(ctx)
		t.Fatal(err)
	}
	return a, reg
}

// Stop shuts a down within 30 s; an error fails the test. Safe twice.
func Stop(t testing.TB, a *app.App) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// URL is the base URL of a's HTTP port.
func URL(a *app.App) string { return "http://" + a.HTTPAddr().String() }

// PostQuery posts sql to the query endpoint as the event-grpc tool does
// and returns the response as it comes.
func PostQuery(a *app.App, sql string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, URL(a)+"/v1/query", strings.NewReader(sql))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set(httpsrv.HeaderRequestedBy, "apptest")
	return http.DefaultClient.Do(req)
}

// Query runs sql on the store through the query endpoint.
func Query(t testing.TB, a *app.App, sql string) [][]string {
	t.Helper()
	resp, err := PostQuery(a, sql)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("query %q: %s %s", sql, resp.Status, body)
	}
	var r httpsrv.QueryResult
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	return r.Rows
}

// WaitRows polls, for up to within, until sql returns want in its first
// cell; it fails the test with the last value otherwise.
func WaitRows(t testing.TB, a *app.App, within time.Duration, sql, want string) {
	t.Helper()
	deadline := time.Now().Add(within)
	var got string
	for {
		if rows := Query(t, a, sql); len(rows) > 0 && len(rows[0]) > 0 {
			if got = rows[0][0]; got == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %s, want %s", sql, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
