package chaos

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	readyTimeout = 60 * time.Second // start → GET /heartbeat 200
	drainTimeout = 60 * time.Second // SIGTERM → exit (SHUTDOWN_TIMEOUT is 30 s)
)

// buildBinary compiles cmd/event-grpc into dir.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "event-grpc")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/event-grpc")
	cmd.Dir = repoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// instance is one event-grpc process, started (and restarted) with the
// same configuration: ports, data dir, database. Its stdout and stderr go
// to one log file, each start marked.
type instance struct {
	name     string
	bin      string
	env      []string
	dataDir  string
	logPath  string
	grpcAddr string
	httpAddr string

	// readyWait, when set, replaces readyTimeout (a cluster's first start
	// declares its replicated streams and tables).
	readyWait time.Duration

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when the current process has exited
	waitErr error         // its exit, valid once done is closed
	starts  int
}

// newInstance prepares (does not start) an instance in dir with env on top
// of the test's environment. Cleanup kills it if it is still running.
func newInstance(t *testing.T, name, bin, dir string, env map[string]string) *instance {
	t.Helper()
	in := &instance{
		name:    name,
		bin:     bin,
		dataDir: filepath.Join(dir, name+"-data"),
		logPath: filepath.Join(dir, name+".log"),
	}
	if err := os.MkdirAll(in.dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	grpcPort, httpPort := freePort(t), freePort(t)
	in.grpcAddr, in.httpAddr = "127.0.0.1:"+grpcPort, "127.0.0.1:"+httpPort
	vars := map[string]string{
		"ENV":       "chaos", // no .env.chaos in the data dir: nothing read from files
		"AUTH_MODE": "off",
		// no webhooks in the chaos scenarios: switched off, as ENV≠local requires
		"BRANCH_WEBHOOK_ENABLED": "false", "WEBENGAGE_WEBHOOK_ENABLED": "false", "VIDOOLY_WEBHOOK_ENABLED": "false",
		"SHOPIFY_WEBHOOK_ENABLED": "false", "GRAPHY_WEBHOOK_ENABLED": "false",
		"DATA_DIR":         in.dataDir,
		"PORT":             grpcPort,
		"GIN_PORT":         httpPort,
		"LOG_LEVEL":        "info",
		"LOG_FORMAT":       "text",
		"SHUTDOWN_TIMEOUT": "30s",
	}
	for k, v := range env {
		vars[k] = v
	}
	in.env = os.Environ()
	for k, v := range vars {
		in.env = append(in.env, k+"="+v) // the last of duplicate keys wins
	}
	t.Cleanup(in.stop)
	return in
}

// start runs the process and waits until GET /heartbeat answers 200.
func (in *instance) start() error {
	in.mu.Lock()
	if in.done != nil {
		select {
		case <-in.done:
		default:
			in.mu.Unlock()
			return fmt.Errorf("%s: already running", in.name)
		}
	}
	in.starts++
	f, err := os.OpenFile(in.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		in.mu.Unlock()
		return err
	}
	fmt.Fprintf(f, "=== chaos: %s start #%d at %s ===\n", in.name, in.starts, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(in.bin)
	cmd.Env, cmd.Dir = in.env, in.dataDir
	cmd.Stdout, cmd.Stderr = f, f
	err = cmd.Start()
	f.Close() // the child holds its own descriptor
	if err != nil {
		in.mu.Unlock()
		return fmt.Errorf("%s: start: %w", in.name, err)
	}
	done := make(chan struct{})
	in.cmd, in.done = cmd, done
	in.mu.Unlock()
	go func() {
		err := cmd.Wait()
		in.mu.Lock()
		in.waitErr = err
		in.mu.Unlock()
		close(done)
	}()
	return in.waitReady(done)
}

func (in *instance) waitReady(done chan struct{}) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	wait := readyTimeout
	if in.readyWait > 0 {
		wait = in.readyWait
	}
	deadline := time.Now().Add(wait)
	for {
		select {
		case <-done:
			return fmt.Errorf("%s exited before it was ready (%v):\n%s", in.name, in.exitErr(), in.logTail(40))
		default:
		}
		if resp, err := client.Get("http://" + in.httpAddr + "/heartbeat"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: /heartbeat not 200 within %v:\n%s", in.name, wait, in.logTail(40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ready reports whether GET /heartbeat answers 200 now.
func (in *instance) ready() bool {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + in.httpAddr + "/heartbeat")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// waitHeartbeat waits until /heartbeat answers 200 again (after a broker
// outage), within timeout.
func (in *instance) waitHeartbeat(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !in.ready() {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: /heartbeat not 200 within %v", in.name, timeout)
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

func (in *instance) running() (*exec.Cmd, chan struct{}, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.done == nil {
		return nil, nil, false
	}
	select {
	case <-in.done:
		return nil, nil, false
	default:
		return in.cmd, in.done, true
	}
}

func (in *instance) exitErr() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.waitErr
}

// kill9 sends SIGKILL and waits for the process to be gone.
func (in *instance) kill9() error {
	cmd, done, ok := in.running()
	if !ok {
		return fmt.Errorf("%s: SIGKILL: not running (exit %v):\n%s", in.name, in.exitErr(), in.logTail(40))
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("%s: SIGKILL: %w", in.name, err)
	}
	<-done
	return nil
}

// term sends SIGTERM and waits for the drain; an exit other than 0 is an
// error.
func (in *instance) term() error {
	cmd, done, ok := in.running()
	if !ok {
		return fmt.Errorf("%s: SIGTERM: not running (exit %v)", in.name, in.exitErr())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("%s: SIGTERM: %w", in.name, err)
	}
	select {
	case <-done:
	case <-time.After(drainTimeout):
		return fmt.Errorf("%s: still running %v after SIGTERM:\n%s", in.name, drainTimeout, in.logTail(40))
	}
	if err := in.exitErr(); err != nil {
		return fmt.Errorf("%s: exit after SIGTERM: %v (want 0):\n%s", in.name, err, in.logTail(40))
	}
	return nil
}

// stop kills the process if it still runs (test cleanup).
func (in *instance) stop() {
	if cmd, done, ok := in.running(); ok {
		_ = cmd.Process.Kill() // it may have exited in between; done tells
		<-done
	}
}

// logTail is the last n lines of the instance's log.
func (in *instance) logTail(n int) string {
	b, err := os.ReadFile(in.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// metrics returns the instance's Prometheus series whose names start with
// one of prefixes, keyed by the series (name and labels), non-zero only.
func (in *instance) metrics(prefixes ...string) (map[string]float64, error) {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + in.httpAddr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		for _, p := range prefixes {
			if !strings.HasPrefix(line, p) {
				continue
			}
			i := strings.LastIndexByte(line, ' ')
			if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil && v != 0 {
				out[line[:i]] = v
			}
		}
	}
	return out, nil
}

// startCount is how many times the instance was started.
func (in *instance) startCount() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.starts
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
