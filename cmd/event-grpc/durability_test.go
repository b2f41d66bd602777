package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
)

// buildBinary compiles the command once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "event-grpc")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
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

type server struct {
	cmd              *exec.Cmd
	log              *bytes.Buffer
	grpcPort, httpPt string
}

func startServer(t *testing.T, bin, dataDir string) *server {
	t.Helper()
	s := &server{log: &bytes.Buffer{}, grpcPort: freePort(t), httpPt: freePort(t)}
	s.cmd = exec.Command(bin)
	s.cmd.Env = append(os.Environ(), "DATA_DIR="+dataDir, "PORT="+s.grpcPort, "GIN_PORT="+s.httpPt, "ENV=local")
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Kill()
			s.cmd.Wait()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if out, err := s.query("SELECT 1"); err == nil && strings.TrimSpace(out) == "1" {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not become ready:\n%s", s.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// query returns the result's rows as TSV, without the header row.
func (s *server) query(sql string) (string, error) {
	var out bytes.Buffer
	err := query(context.Background(), []string{"--http", "127.0.0.1:" + s.httpPt, "--format", "tsv", sql}, &out)
	_, rows, _ := strings.Cut(out.String(), "\n")
	return rows, err
}

// TestKill9AfterOKLosesNothing: events acknowledged by dispatch survive a
// SIGKILL that comes right after the OK, and land exactly once after a
// restart on the same DATA_DIR.
func TestKill9AfterOKLosesNothing(t *testing.T) {
	bin := buildBinary(t)
	dataDir := t.TempDir()
	s := startServer(t, bin, dataDir)

	cc, err := grpc.NewClient("127.0.0.1:"+s.grpcPort, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := eventgrpcv1.NewEventServiceClient(cc)
	accepted := 0
	for r := range 20 {
		req := &eventgrpcv1.Events{Header: &eventgrpcv1.Header{UserId: "kill9"}}
		for i := range 50 {
			req.Events = append(req.Events, &eventgrpcv1.Event{
				Id:      fmt.Sprintf("k9-%d-%d", r, i),
				EventOf: &eventgrpcv1.Event_PageOpenedEvent{PageOpenedEvent: &eventgrpcv1.PageOpenedEvent{}},
			})
		}
		resp, err := client.Dispatch(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		accepted += int(resp.Accepted)
	}
	// SIGKILL right after the last OK: no drain, no flush.
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s.cmd.Wait()

	s2 := startServer(t, bin, dataDir)
	want := fmt.Sprintf("%d\t%d", accepted, accepted)
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := s2.query("SELECT count(*), count(DISTINCT event_id) FROM event WHERE user_id = 'kill9'")
		if err == nil && strings.TrimSpace(out) == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart: %q (err %v), want %q (every accepted event exactly once)\n%s", out, err, want, s2.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if accepted != 1000 {
		t.Fatalf("accepted %d of 1000", accepted)
	}
	// Stop the second server with SIGTERM: it must drain and exit 0.
	s2.cmd.Process.Signal(syscall.SIGTERM)
	if err := s2.cmd.Wait(); err != nil {
		t.Fatalf("SIGTERM exit: %v\n%s", err, s2.log)
	}
}
