package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// One budget, MEMORY_LIMIT, sizes the embedded store's pool (a quarter),
// its checkpoint threshold (half the pool, at most 128 MiB) and the Go
// heap's soft limit (what is left after 1.5× the pool and 128 MiB); each
// can still be set on its own.
func TestMemoryBudget(t *testing.T) {
	for _, tc := range []struct {
		name             string
		env              map[string]string
		goLimit          int64
		duckdb, ckptHold string
	}{
		{"512MiB", map[string]string{"MEMORY_LIMIT": "512MiB"}, 192 << 20, "128MiB", "64MiB"},
		{"larger machine", map[string]string{"MEMORY_LIMIT": "4GiB"}, (4<<30 - 3*512<<20 - 128<<20), "1024MiB", "128MiB"},
		{"GOMEMLIMIT wins", map[string]string{"MEMORY_LIMIT": "512MiB", "GOMEMLIMIT": "300MiB"}, 0, "128MiB", "64MiB"},
		{"store set on its own", map[string]string{"MEMORY_LIMIT": "512MiB", "DUCKDB_MEMORY_LIMIT": "100MB", "DUCKDB_CHECKPOINT_THRESHOLD": "16MB"}, 512<<20 - 150e6 - 128<<20, "100MB", "16MB"},
		{"no budget", map[string]string{"MEMORY_LIMIT": "0"}, 0, "256MiB", "128MiB"},
		{"tiny budget keeps a floor", map[string]string{"MEMORY_LIMIT": "100MiB"}, 64 << 20, "32MiB", "16MiB"},
		{"clickhouse: no store share", map[string]string{"MEMORY_LIMIT": "512MiB", "SINK": "clickhouse"}, 512<<20 - 128<<20, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(envOf(tc.env), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if c.GoMemoryLimit != tc.goLimit {
				t.Errorf("Go limit = %d MiB, want %d MiB", c.GoMemoryLimit>>20, tc.goLimit>>20)
			}
			if c.Sink.DuckDBMemoryLimit != tc.duckdb || c.Sink.DuckDBCheckpointThreshold != tc.ckptHold {
				t.Errorf("DuckDB memory_limit %q checkpoint_threshold %q, want %q %q",
					c.Sink.DuckDBMemoryLimit, c.Sink.DuckDBCheckpointThreshold, tc.duckdb, tc.ckptHold)
			}
		})
	}
}

// Without MEMORY_LIMIT the budget is 90% of the container's memory limit
// (cgroup v2 or v1); outside a container that sets one, a quarter of
// physical memory (MemTotal in /proc/meminfo) capped at 768 MiB, and the
// cap when meminfo cannot be read.
func TestMemoryLimitFromContainer(t *testing.T) {
	dir := t.TempDir()
	write := func(name, v string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	small := write("meminfo-1g", "MemTotal:        1013556 kB\nMemFree:          200000 kB\n")
	large := write("meminfo-24g", "MemTotal:       24683520 kB\nMemFree:        21000000 kB\nMemAvailable:   23000000 kB\n")
	absent := filepath.Join(dir, "absent")
	for _, tc := range []struct {
		name    string
		files   []string
		meminfo string
		want    int64
	}{
		{"v2 limit", []string{write("v2", "536870912\n"), write("v1", "1073741824\n")}, large, 536870912 / 10 * 9},
		{"v1 limit", []string{absent, write("v1b", "1073741824\n")}, large, 1073741824 / 10 * 9},
		{"v2 max, large machine: capped", []string{write("v2max", "max\n")}, large, 768 << 20},
		{"v1 unlimited, small machine: a quarter", []string{write("v1huge", "9223372036854771712\n")}, small, 1013556 << 10 / 4},
		{"no cgroup files", []string{absent}, small, 1013556 << 10 / 4},
		{"no meminfo either", []string{absent}, absent, 768 << 20},
		{"unreadable meminfo", []string{absent}, write("meminfo-bad", "MemTotal: lots\n"), 768 << 20},
	} {
		if got, _ := defaultMemoryLimit(tc.files, tc.meminfo); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestCgroupMemoryFiles(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cgroup")
	if err := os.WriteFile(p, []byte("9:name=systemd:/\n4:memory:/svc/eg\n0::/system.slice/eg.service\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(cgroupMemoryFiles(p), " ")
	want := "/sys/fs/cgroup/memory/svc/eg/memory.limit_in_bytes /sys/fs/cgroup/system.slice/eg.service/memory.max /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes"
	if got != want {
		t.Fatalf("files = %s\nwant    %s", got, want)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"1048576": 1 << 20, "512MiB": 512 << 20, "2GB": 2e9, "64 mib": 64 << 20, "1KiB": 1024, "7B": 7, "1.5GiB": 3 << 29,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "12 parsecs", "-5MB", "99999999999TiB", "1.2.3MB", "80%"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
	for _, key := range []string{"MEMORY_LIMIT", "DUCKDB_MEMORY_LIMIT", "LANDING_MAX_INFLIGHT_BYTES"} {
		_, err := Load(envOf(map[string]string{key: "lots"}), t.TempDir())
		if err == nil || !strings.Contains(err.Error(), key+":") {
			t.Fatalf("%s=lots: %v, want an error naming it", key, err)
		}
	}
}

// With nothing configured and no control group limit, the process picks
// its budget from meminfo and carves every bound from it; a variable set
// on its own keeps its value, and MEMORY_LIMIT=0 keeps every default.
func TestZeroConfigBudgetIsCarved(t *testing.T) {
	dir := t.TempDir()
	meminfo := func(name, kb string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("MemTotal:       "+kb+" kB\nMemFree:          100000 kB\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noCgroup := []string{filepath.Join(dir, "no-memory.max")}
	type want struct {
		budget, goLimit, ingest, landing, dedupe, jsBuffered int64
		duckdb, ckpt                                         string
	}
	for _, tc := range []struct {
		name    string
		meminfo string
		env     map[string]string
		want    want
		from    string
	}{
		{"24 GiB machine: the 768 MiB cap", meminfo("24g", "25165824"), nil,
			want{768 << 20, 352 << 20, 64 << 20, 12 << 20, 98304, 48 << 20, "192MiB", "96MiB"}, "default cap"},
		{"1 GiB machine: a quarter", meminfo("1g", "1048576"), nil,
			want{256 << 20, 64 << 20, 32 << 20, 4 << 20, 32768, 16 << 20, "64MiB", "32MiB"}, "physical memory / 4"},
		{"own settings win", meminfo("24g-b", "25165824"),
			map[string]string{"INGEST_MAX_INFLIGHT_BYTES": "1000000", "LANDING_MAX_INFLIGHT_BYTES": "2MiB", "DEDUPE_LOCAL_MAX_ITEMS": "5000"},
			want{768 << 20, 352 << 20, 1000000, 2 << 20, 5000, 48 << 20, "192MiB", "96MiB"}, "default cap"},
		{"MEMORY_LIMIT=0: no budget, the fixed defaults", meminfo("24g-c", "25165824"), map[string]string{"MEMORY_LIMIT": "0"},
			want{0, 0, 64 << 20, 16 << 20, 250_000, 0, "256MiB", "128MiB"}, "MEMORY_LIMIT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(envOf(tc.env), t.TempDir(), noCgroup, tc.meminfo)
			if err != nil {
				t.Fatal(err)
			}
			got := want{c.MemoryLimit, c.GoMemoryLimit, int64(c.Pipeline.MaxInflightBytes), c.LandingMaxInflightBytes,
				c.Dedupe.LocalMaxItems, c.Broker.JetStreamBufferedBytes, c.Sink.DuckDBMemoryLimit, c.Sink.DuckDBCheckpointThreshold}
			if got != tc.want {
				t.Errorf("carve:\n got %+v\nwant %+v", got, tc.want)
			}
			if c.MemoryLimitFrom != tc.from {
				t.Errorf("budget from %q, want %q", c.MemoryLimitFrom, tc.from)
			}
			// What the budget holds for parts it does not bound directly
			// (the executable, stacks, the store's allocations outside its
			// pool) stays positive: the parts never add up past it.
			if b := c.MemoryLimit; b > 0 {
				pool, _ := parseSize(c.Sink.DuckDBMemoryLimit)
				if parts := c.GoMemoryLimit + pool + c.LandingMaxInflightBytes; parts >= b {
					t.Errorf("Go heap %d + store pool %d + landing %d = %d MiB, not under the %d MiB budget",
						c.GoMemoryLimit>>20, pool>>20, c.LandingMaxInflightBytes>>20, parts>>20, b>>20)
				}
			}
		})
	}
}
