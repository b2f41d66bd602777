package app_test

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// TestMain makes sure the servers these tests use are up (RabbitMQ,
// PostgreSQL, Redis, NATS, ClickHouse), starting or installing them; a
// server that cannot be had fails the run rather than skipping tests.
func TestMain(m *testing.M) {
	if out, err := exec.Command("../../scripts/ensure-services.sh").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "servers needed by these tests are not available: %v\n%s", err, out)
		os.Exit(1)
	}
	os.Exit(m.Run())
}
