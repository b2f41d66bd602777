package chaos

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

// full selects the full version: longer load, three SIGKILLs, a 30 s
// ClickHouse outage. scripts/chaos.sh sets it.
var full = flag.Bool("chaos.full", false, "run the full chaos suite (about 20-40 s of load per scenario) instead of the short one")

// repoRoot is the module root, two levels above this package.
func repoRoot() string {
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err) // Abs fails only when the working directory is gone
	}
	return dir
}

// TestMain makes sure RabbitMQ, ClickHouse and the other servers are up,
// starting (or installing) them; a server that cannot be had fails the run.
func TestMain(m *testing.M) {
	cmd := exec.Command(filepath.Join(repoRoot(), "scripts", "ensure-services.sh"))
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "chaos: the servers this suite needs are not available: %v\n%s", err, out)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m)
}
