package app_test

import (
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/event-grpc/event-grpc/internal/app"
	"github.com/event-grpc/event-grpc/internal/app/apptest"
)

// shutdown stops a within d and fails the test when it errs or overruns.
func shutdown(t *testing.T, a *app.App, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	began := time.Now()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if took := time.Since(began); took > d+time.Second {
		t.Fatalf("shutdown took %v, deadline %v", took, d)
	}
}

// TestComponentsStartStopTwice: the service with its embedded defaults
// (embedded NATS, DuckDB) keeps the component contract as a whole. Its
// parts start in order (stores and broker first, servers and readiness
// last); started and stopped, twice over on the same DATA_DIR, it leaves
// no goroutine behind and answers; stopped before it was ever started,
// twice, it leaves none either; and a second Shutdown is a no-op.
func TestComponentsStartStopTwice(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	want := []string{"error reporter", "analytics store", "authenticator", "dedupe", "broker", "webengage",
		"consumers", "pipeline", "webhooks", "status history", "http server", "grpc server", "readiness"}
	dir := t.TempDir()
	env := map[string]string{"DATA_DIR": dir}
	t.Run("start then stop", func(t *testing.T) {
		for round := range 2 {
			a, _ := apptest.New(t, env)
			if got := a.Components(); !slices.Equal(got, want) {
				t.Fatalf("components %q, want %q", got, want)
			}
			if err := a.Start(context.Background()); err != nil {
				t.Fatalf("round %d: start: %v", round, err)
			}
			waitReady(t, a, 10*time.Second)
			resp, err := apptest.PostQuery(a, "SELECT 1")
			if err != nil {
				t.Fatalf("round %d: query: %v", round, err)
			}
			resp.Body.Close()
			shutdown(t, a, 10*time.Second)
			if ok, _ := a.State.Ready(); ok {
				t.Fatalf("round %d: ready after Shutdown", round)
			}
			shutdown(t, a, time.Second) // a second call: nothing left to do
		}
	})
	t.Run("stop before start", func(t *testing.T) {
		for range 2 {
			a, _ := apptest.New(t, env)
			shutdown(t, a, 10*time.Second)
			shutdown(t, a, time.Second)
		}
	})
}

func waitReady(t *testing.T, a *app.App, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, why := a.State.Ready()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after %v: %s", d, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// silent is a TCP server that accepts connections and never answers: a
// database or broker that hangs rather than refuses.
func silent(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().(*net.TCPAddr).Port
}

// TestShutdownWithDependenciesUnreachable: with RabbitMQ refusing (a
// closed port) and ClickHouse and PostgreSQL hanging (they accept and
// never answer), the service starts, is not ready and says which part
// is not, and shuts down within its deadline, leaving no goroutine.
func TestShutdownWithDependenciesUnreachable(t *testing.T) {
	env := productionEnv(t)
	env["RABBIT_HOST"], env["RABBIT_PORT"] = "127.0.0.1", "1"
	env["CLICKHOUSE_PORT"] = strconv.Itoa(silent(t))
	env["POSTGRES_PORT"] = strconv.Itoa(silent(t))
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	a, _ := apptest.New(t, env)
	// Start waits for each store's first try, or its ctx: the hanging
	// ones hold it until then.
	sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer scancel()
	if err := a.Start(sctx); err != nil {
		t.Fatalf("start with its servers unreachable: %v", err)
	}
	ok, why := a.State.Ready()
	if ok || !(strings.Contains(why, "store") || strings.Contains(why, "broker")) {
		t.Fatalf("ready=%v (%q) with every server unreachable, want not ready naming a store or the broker", ok, why)
	}
	const deadline = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	began := time.Now()
	err := a.Shutdown(ctx)
	if took := time.Since(began); took > deadline+500*time.Millisecond {
		t.Fatalf("shutdown took %v, deadline %v (err %v)", took, deadline, err)
	}
	if err != nil {
		t.Logf("shutdown: %v", err)
	}
	// What was still connecting at the deadline finishes closing by itself.
	shutdown(t, a, 30*time.Second)
}
