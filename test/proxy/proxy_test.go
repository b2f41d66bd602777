package proxy

import (
	"bytes"
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

const token = "proxy-test-admin-token-0123456789"

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// build builds the service once for the package's tests.
func build(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "proxy-test-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "event-grpc")
		if out, err := exec.Command("go", "build", "-o", binPath, "../../cmd/event-grpc").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// startService runs the binary outside ENV=local with env added, and
// waits for /heartbeat.
func startService(t *testing.T, bin string, env ...string) (httpPort string) {
	t.Helper()
	httpPort = freePort(t)
	var log bytes.Buffer
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "ENV=production", "AUTH_MODE=off", "DATA_DIR="+t.TempDir(),
		"PORT="+freePort(t), "GIN_PORT="+httpPort)
	for _, p := range []string{"BRANCH", "WEBENGAGE", "VIDOOLY", "SHOPIFY", "GRAPHY"} {
		cmd.Env = append(cmd.Env, p+"_WEBHOOK_ENABLED=false")
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("service log:\n%s", log.String())
		}
	})
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get("http://127.0.0.1:" + httpPort + "/heartbeat"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return httpPort
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service did not become ready:\n%s", log.String())
		}
	}
}

// The nginx configuration of the README's "Operator endpoints behind a
// proxy", on private ports.
const nginxConf = `%s
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log;
events { worker_connections 64; }
http {
    access_log %[2]s/access.log;
    client_body_temp_path %[2]s/body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    server {
        listen 127.0.0.1:%[3]s;
        location / {
            proxy_pass http://127.0.0.1:%[4]s;
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_buffering off;
        }
    }
}
`

// startNginx runs nginx in front of upstream, with its own prefix and
// configuration, in the foreground; the test stops it by its PID.
func startNginx(t *testing.T, upstream string) string {
	t.Helper()
	if out, err := exec.Command("../../scripts/ensure-nginx.sh").CombinedOutput(); err != nil {
		t.Fatalf("ensure-nginx.sh: %v\n%s", err, out)
	}
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		nginx = "/usr/sbin/nginx"
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	port := freePort(t)
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;"
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(nginxConf, user, dir, port, upstream)), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cmd := exec.Command(nginx, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGQUIT) // the master, by its PID: graceful stop of it and its worker
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			return port
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not listen on %s: %s\n%s", port, log.String(), b)
		}
	}
}

func do(t *testing.T, method, url string, auth bool, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// Redirects are not followed: the status page answers a refused
	// browser with 303 to /login, the same refusal as a 401.
	c := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode == http.StatusSeeOther && resp.Header.Get("Location") == "/login" {
		// The status page sends a browser without credentials to the
		// login form instead of answering 401: the same refusal.
		return http.StatusUnauthorized, "303 to /login"
	}
	return resp.StatusCode, string(b)
}

type route struct{ method, path, body string }

var operatorRoutes = []route{
	{"POST", "/v1/query", "SELECT 1"},
	{"GET", "/admin/status", ""},
	{"GET", "/", ""},
	{"PUT", "/heartbeat?beat=true", ""},
	{"GET", "/debug/pprof/", ""},
	{"GET", "/v1/tail?sample=0.5", ""},
}

const event = `{"header":{"userId":"u-proxy"},"events":[{"id":"proxy-%d","launchEvent":{}}]}`

// Behind nginx, which connects from loopback and adds X-Real-IP and
// X-Forwarded-For, outside ENV=local: every operator route is refused
// without ADMIN_TOKEN and served with it, on the proxy and on loopback
// alike; ingest passes. On e066805 nginx's requests counted as local and
// every operator route was served to anyone who could reach the proxy.
func TestOperatorRoutesBehindNginx(t *testing.T) {
	bin := build(t)
	svc := startService(t, bin, "ADMIN_TOKEN="+token, "QUERY_ALLOW_REMOTE=true")
	px := "http://127.0.0.1:" + startNginx(t, svc)
	direct := "http://127.0.0.1:" + svc
	for _, base := range []string{px, direct} {
		for _, r := range operatorRoutes {
			if code, body := do(t, r.method, base+r.path, false, r.body); code != http.StatusUnauthorized {
				t.Errorf("%s %s%s without the token: %d %.200s, want 401", r.method, base, r.path, code, body)
			}
			if strings.HasPrefix(r.path, "/v1/tail") {
				continue // a stream: its status is checked without the body below
			}
			if code, body := do(t, r.method, base+r.path, true, r.body); code != http.StatusOK {
				t.Errorf("%s %s%s with the token: %d %.200s, want 200", r.method, base, r.path, code, body)
			}
		}
		req, _ := http.NewRequest("GET", base+"/v1/tail", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s/v1/tail with the token: %d, want 200", base, resp.StatusCode)
		}
	}
	for i, base := range []string{px, direct} {
		if code, body := do(t, "POST", base+"/v1/events", false, fmt.Sprintf(event, i)); code != http.StatusOK {
			t.Errorf("ingest via %s: %d %.200s, want 200", base, code, body)
		}
	}
	// /metrics names no client unless METRICS_CLIENT_LABELS: one client="all" series.
	if code, body := do(t, "GET", px+"/metrics", false, ""); code != 200 || strings.Contains(body, `client="other"`) || !strings.Contains(body, `client="all"`) {
		t.Errorf("/metrics: %d, client labels other than \"all\" or none:\n%.2000s", code, body)
	}
}

// With ADMIN_ADDR the operator routes are on that loopback listener alone:
// through nginx (and on the public port) they are 404, token or not; on
// the operator listener they are served without a token. /metrics moves
// with METRICS_ADDR.
func TestOperatorListenerBehindNginx(t *testing.T) {
	bin := build(t)
	admin, metrics := freePort(t), freePort(t)
	svc := startService(t, bin, "ADMIN_ADDR=127.0.0.1:"+admin, "METRICS_ADDR=127.0.0.1:"+metrics, "GRPC_REFLECTION=false")
	px := "http://127.0.0.1:" + startNginx(t, svc)
	for _, r := range append(operatorRoutes, route{"GET", "/metrics", ""}) {
		if strings.HasPrefix(r.path, "/v1/tail") {
			continue
		}
		for _, auth := range []bool{false, true} {
			if code, body := do(t, r.method, px+r.path, auth, r.body); code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s through nginx (token %v): %d %.200s, want 404", r.method, r.path, auth, code, body)
			}
		}
		if r.path == "/metrics" {
			continue
		}
		if code, body := do(t, r.method, "http://127.0.0.1:"+admin+r.path, false, r.body); code != http.StatusOK {
			t.Errorf("%s %s on the operator listener: %d %.200s, want 200", r.method, r.path, code, body)
		}
	}
	if code, _ := do(t, "GET", "http://127.0.0.1:"+metrics+"/metrics", false, ""); code != 200 {
		t.Errorf("/metrics on METRICS_ADDR: %d", code)
	}
	if code, body := do(t, "POST", px+"/v1/events", false, fmt.Sprintf(event, 9)); code != http.StatusOK {
		t.Errorf("ingest through nginx: %d %.200s, want 200", code, body)
	}
}
