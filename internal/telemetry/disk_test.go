package telemetry_test

import (
	"context"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/telemetry"
)

// StatDisk agrees with df (GNU coreutils) about the filesystem of a
// directory, within what other writers on the machine change meanwhile.
func TestStatDiskAgreesWithDf(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Fatalf("this test reads GNU df's output; run it on Linux (GOOS %s)", runtime.GOOS)
	}
	dir := t.TempDir()
	d, err := telemetry.StatDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("df", "-B1", "--output=used,avail,size", dir).Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	f := strings.Fields(lines[len(lines)-1])
	var want [3]uint64
	for i := range want {
		if want[i], err = strconv.ParseUint(f[i], 10, 64); err != nil {
			t.Fatalf("df: %q: %v", out, err)
		}
	}
	near := func(a, b uint64) bool { return max(a, b)-min(a, b) <= 256<<20 }
	if !near(d.Used, want[0]) || !near(d.Free, want[1]) || d.Size != want[2] {
		t.Fatalf("StatDisk %+v, df used %d avail %d size %d", d, want[0], want[1], want[2])
	}
	if f := d.UsedFraction(); f <= 0 || f >= 1 {
		t.Fatalf("used fraction %v", f)
	}
	if _, err := telemetry.StatDisk(dir + "/missing"); err == nil {
		t.Fatal("StatDisk of a missing directory: no error")
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(telemetry.NewDiskCollector(dir))
	if n, err := testutil.GatherAndCount(reg, "eventgrpc_data_dir_bytes_used", "eventgrpc_data_dir_bytes_free", "eventgrpc_data_dir_bytes_size"); err != nil || n != 3 {
		t.Fatalf("disk gauges: %d (%v), want 3", n, err)
	}
	missing := prometheus.NewRegistry()
	missing.MustRegister(telemetry.NewDiskCollector(dir + "/missing"))
	if err := testutil.GatherAndCompare(missing, strings.NewReader(`
# HELP eventgrpc_data_dir_stat_up 1 when the filesystem of DATA_DIR could be read at the last scrape, else 0.
# TYPE eventgrpc_data_dir_stat_up gauge
eventgrpc_data_dir_stat_up{path="`+dir+`/missing"} 0
`)); err != nil {
		t.Fatal(err)
	}
}

type countingStats struct {
	calls int
	stats []broker.QueueStat
}

func (c *countingStats) Stats(context.Context) ([]broker.QueueStat, error) {
	c.calls++
	return c.stats, nil
}

// The collector exports bytes and the cap (bytes only when the broker
// says them), and takes a cached answer up to ScrapeMaxAge old, so
// gathering every second does not ask the broker every second.
func TestQueueCollectorBytesAndCache(t *testing.T) {
	src := &countingStats{stats: []broker.QueueStat{
		{Queue: "a", Messages: 3, Bytes: 300, MaxBytes: 1000},
		{Queue: "b", Messages: 1, Bytes: -1, MaxBytes: 2000}, // RabbitMQ: no bytes
	}}
	cache := telemetry.NewQueueStatsCache(src, time.Millisecond)
	reg := prometheus.NewRegistry()
	reg.MustRegister(telemetry.NewQueueCollector(cache))
	want := `
# HELP eventgrpc_queue_bytes Bytes of message bodies a queue holds; absent when the broker cannot tell (RabbitMQ over AMQP).
# TYPE eventgrpc_queue_bytes gauge
eventgrpc_queue_bytes{error_queue="false",queue="a"} 300
# HELP eventgrpc_queue_max_bytes A queue's byte bound: past it publishes are refused (work queues) or the oldest dead letters dropped (error queues).
# TYPE eventgrpc_queue_max_bytes gauge
eventgrpc_queue_max_bytes{error_queue="false",queue="a"} 1000
eventgrpc_queue_max_bytes{error_queue="false",queue="b"} 2000
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "eventgrpc_queue_bytes", "eventgrpc_queue_max_bytes"); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		time.Sleep(2 * time.Millisecond)
		if _, err := reg.Gather(); err != nil {
			t.Fatal(err)
		}
	}
	if src.calls != 1 {
		t.Fatalf("the broker was asked %d times for 6 gathers within %v", src.calls, telemetry.ScrapeMaxAge)
	}
	// The status page's own calls keep the cache's MaxAge.
	time.Sleep(2 * time.Millisecond)
	cache.Stats(context.Background())
	if src.calls != 2 {
		t.Fatalf("Stats after MaxAge did not ask the broker (%d calls)", src.calls)
	}
}
