// Package clustertest runs the cluster scripts (scripts/cluster/) for
// tests: the RabbitMQ, NATS and ClickHouse clusters on private ports that
// the cluster tests and the cluster chaos suite use.
package clustertest

import (
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Script runs scripts/cluster/NAME with args (bounded to 5 minutes) and
// returns its standard output, trimmed; a failure fails the test with the
// script's standard error.
func Script(t testing.TB, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, Path(name), args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/cluster/%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// Path is the path of scripts/cluster/NAME in this repository.
func Path(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "scripts", "cluster", name)
}
