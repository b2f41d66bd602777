package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/app/apptest"
	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/config"
)

// TestDLQListAndReplay: a poison message lands in its error queue with the
// four headers after exactly the configured attempts; `dlq list` shows it
// and `dlq replay` brings it back — for both brokers.
func TestDLQListAndReplay(t *testing.T) {
	for _, b := range []string{config.BrokerJetStream, config.BrokerRabbitMQ} {
		t.Run(b, func(t *testing.T) {
			vars := map[string]string{"PORT": "0", "GIN_PORT": "0", "DATA_DIR": t.TempDir(), "BROKER": b}
			if b == config.BrokerRabbitMQ {
				// A virtual host of the test's own: the default queue names
				// are not shared with anything else on the server.
				vh := fmt.Sprintf("egdlq_%d", time.Now().UnixNano())
				for _, args := range [][]string{{"add_vhost", vh}, {"set_permissions", "-p", vh, "guest", ".*", ".*", ".*"}} {
					if out, err := exec.Command("rabbitmqctl", args...).CombinedOutput(); err != nil {
						t.Fatalf("rabbitmqctl %v: %v %s", args, err, out)
					}
				}
				t.Cleanup(func() { exec.Command("rabbitmqctl", "delete_vhost", vh).Run() })
				vars["RABBIT_VHOST"] = vh
			}
			a := apptest.Start(t, vars)
			ctx := context.Background()
			addr := a.HTTPAddr().String()
			cli := func(args ...string) string {
				var out bytes.Buffer
				if err := dlq(ctx, append(args, "--http", addr), &out); err != nil {
					t.Fatalf("dlq %v: %v", args, err)
				}
				return out.String()
			}
			// Drain what earlier runs may have left in the shared queue.
			cli("replay", "trace_log", "--limit", "0")
			before := countOf(t, cli("list", "trace_log"))

			poison := `{"service_name":"identity","note":"no id, no timestamp"}`
			if err := a.Broker.Publish(ctx, "identity.dx", []broker.Message{{RoutingKey: "trace_log", ContentType: "application/json", Body: []byte(poison)}}); err != nil {
				t.Fatal(err)
			}
			out := waitCount(t, cli, before+1)
			for _, h := range []string{"x-error-reason:", "x-original-exchange: identity.dx", "x-original-routing-key: trace_log", "x-retry-count: 2"} {
				if !strings.Contains(out, h) {
					t.Errorf("dlq list does not show %q:\n%s", h, out)
				}
			}
			if !strings.Contains(out, "required field missing") {
				t.Errorf("reason does not name the problem:\n%s", out)
			}
			if got := cli("replay", "trace_log"); !strings.Contains(got, "replayed=") || strings.Contains(got, "replayed=0") {
				t.Fatalf("replay: %s", got)
			}
			// Still poison: it goes round its attempts again and comes back,
			// which shows the replay put it into the queue.
			waitCount(t, cli, before+1)
		})
	}
}

func countOf(t *testing.T, list string) int {
	t.Helper()
	var q, eq string
	var n int
	if _, err := fmtSscanf(list, &q, &eq, &n); err != nil {
		t.Fatalf("bad dlq list output %q: %v", list, err)
	}
	return n
}

func waitCount(t *testing.T, cli func(...string) string, want int) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := cli("list", "trace_log")
		if countOf(t, out) == want {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("error queue count never reached %d:\n%s", want, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func fmtSscanf(s string, q, eq *string, n *int) (int, error) {
	line, _, _ := strings.Cut(s, "\n")
	return fmt.Sscanf(line, "queue=%s error_queue=%s count=%d", q, eq, n)
}
