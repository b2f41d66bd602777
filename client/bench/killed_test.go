package bench

import (
	"testing"
	"time"
)

// TestServerKilledMidLoad: when the service dies (kill -9) with dispatches
// in flight, they and every later one fail as UNAVAILABLE, the one code
// the chaos suite expects of a service that went away besides
// RESOURCE_EXHAUSTED, and every event is still counted once.
func TestServerKilledMidLoad(t *testing.T) {
	addr, cmd := startServerCmd(t, serverDelayEnv+"=50ms")
	time.AfterFunc(300*time.Millisecond, func() { _ = cmd.Process.Kill() })
	res, err := Run(t.Context(), Config{Target: addr, Concurrency: 8, Batch: 10, Duration: time.Second})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("%s", res.Breakdown())
	if res.DispatchesOK == 0 || res.Errors == 0 {
		t.Fatalf("ok=%d errors=%d: want dispatches answered before the kill and failed after", res.DispatchesOK, res.Errors)
	}
	for code, n := range res.ByCode {
		if code != "UNAVAILABLE" {
			t.Errorf("%d dispatches failed with %s, want UNAVAILABLE", n, code)
		}
	}
	checkAddsUp(t, res)
}
