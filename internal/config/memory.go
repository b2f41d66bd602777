package config

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// cgroupMemoryFiles lists the files that may hold the memory limit of the
// control group the process runs in: its own group's (from cgroupFile;
// systemd's MemoryMax, a group made by hand), then the mounted root's
// (what a container with its own cgroup namespace sees), cgroup v2 before
// v1.
func cgroupMemoryFiles(cgroupFile string) []string {
	var own []string
	if b, err := os.ReadFile(cgroupFile); err == nil {
		for line := range strings.Lines(string(b)) {
			parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
			if len(parts) != 3 || parts[2] == "/" || strings.Contains(parts[2], "..") {
				continue
			}
			switch {
			case parts[0] == "0" && parts[1] == "":
				own = append(own, "/sys/fs/cgroup"+parts[2]+"/memory.max")
			case slices.Contains(strings.Split(parts[1], ","), "memory"):
				own = append(own, "/sys/fs/cgroup/memory"+parts[2]+"/memory.limit_in_bytes")
			}
		}
	}
	return append(own, "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
}

// defaultMemoryLimit is MEMORY_LIMIT's default. In a container with a
// memory limit: 90% of it, so a service in a 512 MiB container holds its
// peak below it instead of being killed. Elsewhere (a VM, a laptop, a
// container without a limit): a quarter of the machine's memory
// (MemTotal in meminfo), at most defaultBudgetCap, so that the process
// never grows without bound because nobody configured it; the cap alone
// when meminfo cannot be read. MEMORY_LIMIT=0 turns the budget off.
// source says which, for the start log.
func defaultMemoryLimit(files []string, meminfo string) (limit int64, source string) {
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		v := strings.TrimSpace(string(b))
		if v == "max" {
			break
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 || n >= 1<<60 { // v1 writes "no limit" as a huge number
			break
		}
		return n / 10 * 9, "container limit"
	}
	total := physicalMemory(meminfo)
	if total <= 0 {
		return defaultBudgetCap, "default cap (physical memory unknown)"
	}
	if total/4 >= defaultBudgetCap {
		return defaultBudgetCap, "default cap"
	}
	return total / 4, "physical memory / 4"
}

// defaultBudgetCap bounds the budget the process picks for itself outside
// a container limit: enough for the embedded broker and store at the
// default bench's rate on 2 cores at the CPU per event of no budget, small
// enough to sit beside other services on a VM. Measured (16 clients, batch
// 50, alternating runs): at 768 MiB the Go heap's soft limit (352 MiB) sits
// above the twice-the-live-set (~150 MiB) the GC aims at anyway, so the GC
// runs as often as without a budget (0.3 cycles per 10k events) and the
// CPU per event is that of no budget; at 512 MiB the soft limit (192 MiB)
// is barely above the live set, the GC ran 3-4 times as often and an event
// cost 1.2-1.3x the CPU. A machine with more to give gets it by setting
// MEMORY_LIMIT.
const defaultBudgetCap = 768 << 20

// physicalMemory is MemTotal from a /proc/meminfo-shaped file, in bytes;
// 0 when it cannot be read.
func physicalMemory(meminfo string) int64 {
	b, err := os.ReadFile(meminfo)
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(line, "MemTotal:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || n <= 0 {
			return 0
		}
		return n << 10
	}
	return 0
}

// memoryReserve is what the budget keeps for memory neither bound governs:
// the executable's mapped pages (~80 MiB, most of it the embedded store),
// goroutine and thread stacks and the Go runtime's own structures. The
// embedded store's allocations outside its buffer pool (appenders, query
// state, its allocator's cache) are reckoned as half the pool.
const memoryReserve = 128 << 20

// carveMemory splits MemoryLimit between the embedded store's buffer pool
// (a quarter, when DUCKDB_MEMORY_LIMIT does not set it; its checkpoint
// threshold at most half of that) and the Go heap (what is left after the
// reserve and one and a half times the pool). It returns the Go heap's
// soft limit, or 0 when GOMEMLIMIT is in the environment (the runtime has
// applied it) or there is no budget. A DUCKDB_MEMORY_LIMIT it cannot read
// is an error: the threshold and the heap's share follow from it.
//
// The pool's share is what keeps the store's CPU per row: rows written
// but not yet checkpointed live in the pool, and a pool too small for
// them spills them to temporary files, while a lower threshold
// checkpoints more often. Measured at the default bench, 16 clients: a
// 64 MiB pool with a 32 MiB threshold (an eighth of 512 MiB) spilled
// 40–60 MiB, wrote a batch in ~2.9 s instead of ~0.9 s and cost ~1.5×
// CPU per event; 128 MiB with 64 MiB keeps close to the unbounded store.
func (c *Config) carveMemory(r *reader) int64 {
	var store int64
	if c.Sink.Kind == SinkDuckDB {
		switch {
		case c.Sink.DuckDBMemoryLimit != "":
			n, err := parseSize(c.Sink.DuckDBMemoryLimit)
			if err != nil {
				r.errs = append(r.errs, fmt.Errorf("DUCKDB_MEMORY_LIMIT: %w", err))
				return 0
			}
			store = n
		case c.MemoryLimit > 0:
			store = max(c.MemoryLimit/4, 32<<20)
			c.Sink.DuckDBMemoryLimit = fmt.Sprintf("%dMiB", store>>20)
		default:
			store = 256 << 20
			c.Sink.DuckDBMemoryLimit = "256MiB"
		}
		if c.Sink.DuckDBCheckpointThreshold == "" {
			// Rows written but not yet checkpointed live in the pool:
			// a threshold above half of it would leave writes no room.
			c.Sink.DuckDBCheckpointThreshold = fmt.Sprintf("%dMiB", min(128<<20, store/2)>>20)
		}
	}
	if r.has("GOMEMLIMIT") || c.MemoryLimit <= 0 {
		return 0
	}
	return max(c.MemoryLimit-store-store/2-memoryReserve, 64<<20)
}

// carveBudgets sizes, from MemoryLimit, the byte and item bounds that
// hold the process's working set, each only when its own variable is
// unset and never above its fixed default: the encoded requests in flight
// (an eighth, INGEST_MAX_INFLIGHT_BYTES: a gRPC call reserves
// GRPC_MAX_RECV_BYTES until it is decoded, so 16 concurrent calls need
// 64 MiB), the message bytes landing per sink (a sixty-fourth,
// LANDING_MAX_INFLIGHT_BYTES; their rows take ~3× that in the heap), the
// ids the in-process dedupe window holds (one per 8 KiB of budget, ~200
// bytes each: about 2.5% of it, DEDUPE_LOCAL_MAX_ITEMS) and the bytes
// waiting to be stored per stream of the embedded broker (a sixteenth).
// Without a budget they keep their defaults.
func (c *Config) carveBudgets(r *reader) {
	b := c.MemoryLimit
	if b <= 0 {
		return
	}
	if !r.has("INGEST_MAX_INFLIGHT_BYTES") {
		c.Pipeline.MaxInflightBytes = int(min(int64(c.Pipeline.MaxInflightBytes), max(b/8, 4<<20)))
	}
	if !r.has("LANDING_MAX_INFLIGHT_BYTES") {
		c.LandingMaxInflightBytes = min(c.LandingMaxInflightBytes, max(b/64, 4<<20))
	}
	if !r.has("DEDUPE_LOCAL_MAX_ITEMS") && c.Dedupe.LocalMaxItems > 0 {
		c.Dedupe.LocalMaxItems = min(c.Dedupe.LocalMaxItems, max(b/8192, 16_384))
	}
	c.Broker.JetStreamBufferedBytes = min(128<<20, max(b/16, 8<<20))
}

// parseSize reads a byte count: a number (fractions allowed) with an
// optional unit (B; KB, MB, GB, TB in powers of 1000; KiB, MiB, GiB, TiB
// in powers of 1024; any case, spaces allowed between), as DuckDB reads
// its memory_limit.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	n, err := strconv.ParseFloat(t[:i], 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size (e.g. 512MiB, 2GB, 1048576)", s)
	}
	units := map[string]int64{"": 1, "b": 1,
		"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}
	u, ok := units[strings.ToLower(strings.TrimSpace(t[i:]))]
	if !ok {
		return 0, fmt.Errorf("%q is not a size: unknown unit %q (B, KB, MB, GB, KiB, MiB, GiB)", s, strings.TrimSpace(t[i:]))
	}
	if n*float64(u) > 1<<62 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(n * float64(u)), nil
}
