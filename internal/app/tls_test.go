package app_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/app/apptest"
	"github.com/event-grpc/event-grpc/internal/tlsconf/tlsconftest"
)

// grpcurl installs the public grpcurl client (the one the README names)
// into a directory of the test's and returns its path.
func grpcurl(t *testing.T) string {
	t.Helper()
	gobin := t.TempDir()
	install := exec.Command("go", "install", "github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4")
	install.Env = append(os.Environ(), "GOBIN="+gobin, "GOFLAGS=")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("go install grpcurl: %v\n%s", err, out)
	}
	return filepath.Join(gobin, "grpcurl")
}

func port(a net.Addr) string { return fmt.Sprint(a.(*net.TCPAddr).Port) }

// TestServicePortsServeTLS: with TLS_CERT_FILE and TLS_KEY_FILE both ports
// serve TLS only — grpcurl and curl with the CA succeed, plaintext fails —
// and with TLS_CLIENT_CA_FILE a client without a certificate signed by
// that CA is refused while one with such a certificate is served.
func TestServicePortsServeTLS(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is needed (apt-get install curl)")
	}
	gc := grpcurl(t)
	dir := t.TempDir()
	ca, cert, key := tlsconftest.Localhost(t, dir, "server")
	clientCert, clientKey := ca.Issue(t, dir, "client", "client")
	dispatch := fmt.Sprintf(`{"header":{"clientId":"tls"},"events":[{"id":"tls-%d","timestamp":"%d","launchEvent":{}}]}`, time.Now().UnixNano(), time.Now().UnixMilli())

	run := func(name string, args ...string) (string, error) {
		out, err := exec.Command(name, args...).CombinedOutput()
		return string(out), err
	}

	t.Run("server certificate", func(t *testing.T) {
		a := apptest.Start(t, map[string]string{"TLS_CERT_FILE": cert, "TLS_KEY_FILE": key})
		g, h := "localhost:"+port(a.GRPCAddr()), "localhost:"+port(a.HTTPAddr())
		if out, err := run(gc, "-cacert", ca.File, "-d", dispatch, g, "eventgrpc.v1.EventService/dispatch"); err != nil || !strings.Contains(out, "STATUS_OK") {
			t.Fatalf("grpcurl over TLS: %v\n%s", err, out)
		}
		if out, err := run(gc, "-plaintext", "-d", dispatch, g, "eventgrpc.v1.EventService/dispatch"); err == nil {
			t.Fatalf("grpcurl in plaintext was served:\n%s", out)
		}
		if out, err := run(gc, "-d", dispatch, g, "eventgrpc.v1.EventService/dispatch"); err == nil {
			t.Fatalf("grpcurl trusting only the system's roots was served:\n%s", out)
		}
		if out, err := run("curl", "-sS", "--fail", "--cacert", ca.File, "https://"+h+"/heartbeat"); err != nil || !strings.Contains(out, "OK") {
			t.Fatalf("curl over TLS: %v\n%s", err, out)
		}
		if out, err := run("curl", "-sS", "--fail", "--http2", "--cacert", ca.File, "-H", "Content-Type: application/json", "-d", dispatch, "https://"+h+"/v1/events"); err != nil || !strings.Contains(out, "STATUS_OK") {
			t.Fatalf("curl POST /v1/events over TLS: %v\n%s", err, out)
		}
		if out, err := run("curl", "-sS", "--fail", "http://"+h+"/heartbeat"); err == nil {
			t.Fatalf("plain HTTP was served:\n%s", out)
		}
	})

	t.Run("client certificates", func(t *testing.T) {
		a := apptest.Start(t, map[string]string{"TLS_CERT_FILE": cert, "TLS_KEY_FILE": key, "TLS_CLIENT_CA_FILE": ca.File})
		g, h := "localhost:"+port(a.GRPCAddr()), "localhost:"+port(a.HTTPAddr())
		if out, err := run("curl", "-sS", "--fail", "--cacert", ca.File, "https://"+h+"/heartbeat"); err == nil {
			t.Fatalf("curl without a client certificate was served:\n%s", out)
		}
		if out, err := run("curl", "-sS", "--fail", "--cacert", ca.File, "--cert", clientCert, "--key", clientKey, "https://"+h+"/heartbeat"); err != nil || !strings.Contains(out, "OK") {
			t.Fatalf("curl with a client certificate: %v\n%s", err, out)
		}
		if out, err := run(gc, "-cacert", ca.File, "-d", dispatch, g, "eventgrpc.v1.EventService/dispatch"); err == nil {
			t.Fatalf("grpcurl without a client certificate was served:\n%s", out)
		}
		if out, err := run(gc, "-cacert", ca.File, "-cert", clientCert, "-key", clientKey, "-d", dispatch, g, "eventgrpc.v1.EventService/dispatch"); err != nil || !strings.Contains(out, "STATUS_OK") {
			t.Fatalf("grpcurl with a client certificate: %v\n%s", err, out)
		}
	})
}
