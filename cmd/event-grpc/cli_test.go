package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/app/apptest"
	"github.com/event-grpc/event-grpc/internal/buildinfo"
	"github.com/event-grpc/event-grpc/internal/ingest/httpsrv"
)

// runCLI runs the command line in this process, failing the test if it
// has not returned within d.
func runCLI(t *testing.T, d time.Duration, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(args, &o, &e) }()
	select {
	case code = <-done:
	case <-time.After(d):
		t.Fatalf("event-grpc %v did not return within %v (it started something?)\nstderr: %s", args, d, e.String())
	}
	return code, o.String(), e.String()
}

// TestHelpExitsZeroAndStartsNothing: -h and --help on every command print
// its help on stdout and exit 0 at once; serve --help does not listen.
func TestHelpExitsZeroAndStartsNothing(t *testing.T) {
	grpcPort, httpPort := freePort(t), freePort(t)
	t.Setenv("PORT", grpcPort)
	t.Setenv("GIN_PORT", httpPort)
	t.Setenv("DATA_DIR", t.TempDir())
	cases := [][]string{
		{"-h"}, {"--help"}, {"help"}, {"help", "query"},
		{"serve", "-h"}, {"serve", "--help"},
		{"query", "-h"}, {"query", "--help"}, {"query", "--format", "json", "-h"},
		{"bench", "-h"}, {"bench", "--help"},
		{"topology", "-h"}, {"topology", "--help"},
		{"dlq", "-h"}, {"dlq", "--help"}, {"dlq", "list", "-h"}, {"dlq", "replay", "trace_log", "--help"},
		{"tail", "-h"}, {"tail", "--help"},
		{"version", "-h"}, {"version", "--help"},
	}
	for _, args := range cases {
		code, out, errOut := runCLI(t, 5*time.Second, args...)
		if code != 0 {
			t.Errorf("event-grpc %v: exit %d, stderr %q", args, code, errOut)
		}
		if !strings.HasPrefix(out, "usage: event-grpc") {
			t.Errorf("event-grpc %v: stdout is not a help text:\n%s", args, out)
		}
		if strings.Contains(errOut, "level=") {
			t.Errorf("event-grpc %v logged something (started?):\n%s", args, errOut)
		}
	}
	// Nothing listens on the ports serve would have taken.
	for _, p := range []string{grpcPort, httpPort} {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+p, time.Second); err == nil {
			c.Close()
			t.Errorf("something listens on %s after the help runs", p)
		}
	}
	// bench -h shows its flags, with the default target from PORT.
	_, out, _ := runCLI(t, 5*time.Second, "bench", "-h")
	for _, want := range []string{"-concurrency", "-duration", "127.0.0.1:" + grpcPort} {
		if !strings.Contains(out, want) {
			t.Errorf("bench -h lacks %q:\n%s", want, out)
		}
	}
	// A mistake is still an error, on stderr.
	if code, _, errOut := runCLI(t, 5*time.Second, "query", "--format", "xml", "SELECT 1"); code == 0 || !strings.Contains(errOut, "--format") {
		t.Errorf("query --format xml: exit %d, %q", code, errOut)
	}
	if code, _, _ := runCLI(t, 5*time.Second, "serve", "--port", "1"); code == 0 {
		t.Error("serve with an argument exited 0")
	}
}

// TestVersion: version and --version print the build, the same one the
// status page and /metrics show.
func TestVersion(t *testing.T) {
	in := buildinfo.Get()
	for _, arg := range []string{"version", "--version"} {
		code, out, _ := runCLI(t, 5*time.Second, arg)
		if code != 0 || !strings.HasPrefix(out, "event-grpc "+in.Short()+"\n") {
			t.Fatalf("%s: exit %d\n%s", arg, code, out)
		}
		for _, k := range []string{"version=", "revision=", "time=", "modified=", "go=" + in.GoVersion, "platform="} {
			if !strings.Contains(out, "\n"+k) {
				t.Errorf("%s lacks %q:\n%s", arg, k, out)
			}
		}
	}
	a := apptest.Start(t, nil)
	body := httpGet(t, apptest.URL(a)+"/metrics")
	want := `eventgrpc_build_info{goversion="` + in.GoVersion + `",revision="`
	if !strings.Contains(body, want) || !strings.Contains(body, `version="`+in.Short()+`"} 1`) {
		t.Errorf("/metrics lacks the build info %s…:\n%s", want, grepLines(body, "build_info"))
	}
	req, _ := http.NewRequest(http.MethodGet, apptest.URL(a)+"/admin/status", nil)
	req.Header.Set(httpsrv.HeaderRequestedBy, "test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct{ Version string }
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st.Version != in.Short() {
		t.Errorf("status page version %q (%v), want %q", st.Version, err, in.Short())
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestCommandsShareTheAddress: with only PORT and GIN_PORT set (no
// --grpc/--http), bench, query, dlq and tail all reach the server those
// variables put on their ports.
func TestCommandsShareTheAddress(t *testing.T) {
	grpcPort, httpPort := freePort(t), freePort(t)
	a := apptest.Start(t, map[string]string{"PORT": grpcPort, "GIN_PORT": httpPort})
	t.Setenv("PORT", grpcPort)
	t.Setenv("GIN_PORT", httpPort)
	t.Setenv("LISTEN_ADDR", "")

	code, out, errOut := runCLI(t, 60*time.Second, "bench", "--requests", "5", "--concurrency", "1", "--batch", "2", "--quiet")
	if code != 0 || !strings.Contains(out, "errors=0") {
		t.Fatalf("bench without --target: exit %d\n%s%s", code, out, errOut)
	}
	apptest.WaitRows(t, a, 30*time.Second, "SELECT count(*) FROM event", "10")
	if code, out, errOut := runCLI(t, 30*time.Second, "query", "--format", "tsv", "SELECT 1 AS one"); code != 0 || out != "one\n1\n" {
		t.Errorf("query without --http: exit %d %q %s", code, out, errOut)
	}
	if code, out, errOut := runCLI(t, 30*time.Second, "dlq", "list", "trace_log"); code != 0 || !strings.Contains(out, "queue=trace_log") {
		t.Errorf("dlq list without --http: exit %d %q %s", code, out, errOut)
	}
	// tail runs until interrupted: it must connect (no error) and be
	// stopped by its context.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var tout, terr syncBuffer
	if err := tailCmd(ctx, nil, &tout, &terr); err != nil {
		t.Errorf("tail without --http: %v %s", err, terr.String())
	}
	// A port nothing listens on is an error naming the address.
	t.Setenv("GIN_PORT", freePort(t))
	if code, _, errOut := runCLI(t, 30*time.Second, "query", "SELECT 1"); code == 0 || !strings.Contains(errOut, "is the server running?") {
		t.Errorf("query against a closed port: exit %d %q", code, errOut)
	}
}

// TestQueryFormats: table, tsv and json, each with the column names.
func TestQueryFormats(t *testing.T) {
	a := apptest.Start(t, nil)
	addr := a.HTTPAddr().String()
	sql := "SELECT 1 AS n, 'a\tb' AS s UNION ALL SELECT 22, 'c' ORDER BY n"
	q := func(format string) string {
		var out bytes.Buffer
		if err := query(context.Background(), []string{"--http", addr, "--format", format, sql}, &out); err != nil {
			t.Fatalf("--format %s: %v", format, err)
		}
		return out.String()
	}
	if got, want := q("tsv"), "n\ts\n1\ta\\tb\n22\tc\n"; got != want {
		t.Errorf("tsv:\n%q\nwant\n%q", got, want)
	}
	if got, want := q("json"), "{\"n\":\"1\",\"s\":\"a\\tb\"}\n{\"n\":\"22\",\"s\":\"c\"}\n"; got != want {
		t.Errorf("json:\n%q\nwant\n%q", got, want)
	}
	if got, want := q("table"), "n   s\n1   a\\tb\n22  c\n(2 rows)\n"; got != want {
		t.Errorf("table:\n%q\nwant\n%q", got, want)
	}
	// Not a terminal: tsv by default.
	var out bytes.Buffer
	if err := query(context.Background(), []string{"--http", addr, "SELECT 1 AS n"}, &out); err != nil || out.String() != "n\n1\n" {
		t.Errorf("default format: %q %v", out.String(), err)
	}
}

// serveLog runs serve with env (over a clean, private set) until the log
// shows until, then stops it; it returns the whole log.
func serveLog(t *testing.T, env map[string]string, until string) string {
	t.Helper()
	vars := map[string]string{"PORT": freePort(t), "GIN_PORT": freePort(t), "DATA_DIR": t.TempDir()}
	for k, v := range env {
		vars[k] = v
	}
	for _, k := range []string{"ENV", "AUTH_MODE", "LISTEN_ADDR", "BROKER", "SINK", "MEMORY_LIMIT", "GOMEMLIMIT", "LOG_LEVEL", "LOG_FORMAT", "SENTRY_DSN", "POSTGRES_HOST", "REDIS_CLUSTER_ADDRESSES", "WEBENGAGE_URL", "WEBENGAGE_USER_URL"} {
		if _, ok := vars[k]; !ok {
			if _, set := os.LookupEnv(k); set {
				t.Setenv(k, "")
				os.Unsetenv(k)
			}
		}
	}
	for k, v := range vars {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var log syncBuffer
	done := make(chan error, 1)
	go func() { done <- serve(ctx, func() {}, &log) }()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(log.String(), until) {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve returned %v before logging %q:\n%s", err, until, log.String())
		case <-deadline:
			cancel()
			<-done
			t.Fatalf("no %q within 60 s:\n%s", until, log.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	time.Sleep(300 * time.Millisecond) // what follows the line, if anything
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, log.String())
	}
	return log.String()
}

// TestZeroConfigStartLog: a start with nothing configured prints no WARN,
// one INFO line of what is off, "event-grpc ready" with the status page's
// URL, ports on loopback, a memory budget and where it came from, and
// never the maximum integer.
func TestZeroConfigStartLog(t *testing.T) {
	log := serveLog(t, nil, "event-grpc ready")
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			t.Errorf("zero-config start warns: %s", l)
		}
	}
	if n := strings.Count(log, `msg="off until configured"`); n != 1 {
		t.Errorf("%d lines of what is off, want 1:\n%s", n, log)
	}
	for _, want := range []string{"WEBENGAGE_URL", "BRANCH_WEBHOOK_SECRET", "AUTH_MODE", "status_page=http://127.0.0.1:" + os.Getenv("GIN_PORT") + "/",
		"grpc=127.0.0.1:" + os.Getenv("PORT"), "memory_limit_from="} {
		if !strings.Contains(log, want) {
			t.Errorf("start log lacks %q:\n%s", want, log)
		}
	}
	// Without configuration the process still bounds itself.
	for _, unbounded := range []string{`go_memory_limit="no limit"`, `memory_limit="no limit"`} {
		if strings.Contains(log, unbounded) {
			t.Errorf("zero-config start has %s:\n%s", unbounded, log)
		}
	}
	if strings.Contains(log, "9223372036854775807") || strings.Contains(log, "not ready") {
		t.Errorf("start log:\n%s", log)
	}
}

// TestReadyOnlyWhenReady: with RabbitMQ unreachable the log says what the
// service waits for and never "event-grpc ready".
func TestReadyOnlyWhenReady(t *testing.T) {
	log := serveLog(t, map[string]string{"BROKER": "rabbitmq", "RABBIT_PORT": freePort(t)}, "event-grpc starting, not ready: waiting for rabbitmq")
	if strings.Contains(log, `msg="event-grpc ready"`) {
		t.Errorf("ready logged while RabbitMQ is unreachable:\n%s", log)
	}
}

// TestListenAddrOpensThePorts: LISTEN_ADDR=0.0.0.0 binds every interface
// even with authentication off.
func TestListenAddrOpensThePorts(t *testing.T) {
	log := serveLog(t, map[string]string{"LISTEN_ADDR": "0.0.0.0"}, "event-grpc ready")
	if !strings.Contains(log, "grpc=[::]:"+os.Getenv("PORT")) || !strings.Contains(log, "status_page=http://127.0.0.1:") {
		t.Errorf("LISTEN_ADDR=0.0.0.0:\n%s", log)
	}
}
