package landing

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/event-grpc/event-grpc/client/bench"
	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/sink"
	"github.com/event-grpc/event-grpc/internal/sink/clickhouse"
	"github.com/event-grpc/event-grpc/internal/sink/duckdb"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// BenchmarkLanding measures the landing path alone: broker deliveries of
// the realistic mix (80 types, 50 events a message, 100 messages a batch)
// → decode → map → sink write committed, into the event table. Each
// iteration lands 5,000 new rows (fresh UUIDv7 ids). It reports rows/s and
// allocs/row (allocations of the timed part only, divided by rows).
func BenchmarkLanding(b *testing.B) {
	const msgs, perMsg = 100, 50
	reqs, err := bench.Sample(11, msgs, perMsg, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	deliveries := func() []broker.Delivery {
		ds := make([]broker.Delivery, msgs)
		for i, r := range reqs {
			for _, ev := range r.Events {
				ev.Id = uuid.Must(uuid.NewV7()).String()
			}
			p, err := proto.Marshal(r)
			if err != nil {
				b.Fatal(err)
			}
			body := protowire.AppendVarint(nil, uint64(len(p)))
			ds[i] = broker.Delivery{RoutingKey: "mixed", Body: append(body, p...),
				Headers: map[string]string{broker.HeaderInsertTime: strconv.FormatInt(time.Now().UnixMilli(), 10)}}
		}
		return ds
	}
	run := func(b *testing.B, s sink.Sink) {
		ctx := context.Background()
		cat := schema.Default()
		if err := s.Migrate(ctx, []*schema.Table{cat["event"]}); err != nil {
			b.Fatal(err)
		}
		q := topology.Queue{Name: "bench_q", Handler: topology.HandlerEvents, Tables: []string{"event"}, MaxRetries: 2}
		h, err := New(q, cat, func(*schema.Table) sink.Sink { return s }, nil, must(NewMetrics(nil)), nil)
		if err != nil {
			b.Fatal(err)
		}
		var ms runtime.MemStats
		var mallocs uint64
		var cpu time.Duration // process CPU (all threads, DuckDB's included) in the timed part
		rows := 0
		b.ResetTimer()
		for b.Loop() {
			b.StopTimer()
			ds := deliveries()
			runtime.ReadMemStats(&ms)
			before := ms.Mallocs
			c0 := cpuTime()
			b.StartTimer()
			if err := h.Handle(ctx, ds); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			cpu += cpuTime() - c0
			runtime.ReadMemStats(&ms)
			mallocs += ms.Mallocs - before
			rows += msgs * perMsg
			b.StartTimer()
		}
		b.StopTimer()
		b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric(float64(mallocs)/float64(rows), "allocs/row")
		b.ReportMetric(float64(cpu.Microseconds())/float64(rows), "cpu-µs/row")
	}
	b.Run("duckdb", func(b *testing.B) {
		s, err := duckdb.New(context.Background(), duckdb.Config{Path: filepath.Join(b.TempDir(), "l.duckdb"), CheckpointThreshold: "128MB"})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close(context.Background())
		run(b, s)
	})
	b.Run("clickhouse", func(b *testing.B) {
		var r [4]byte
		rand.Read(r[:])
		db := "landing_" + hex.EncodeToString(r[:])
		b.Cleanup(func() { exec.Command("clickhouse-client", "-q", "DROP DATABASE IF EXISTS "+db).Run() })
		s, err := clickhouse.New(context.Background(), clickhouse.Config{Databases: []string{db}})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close(context.Background())
		run(b, s)
	})
}

var _ = eventgrpcv1.Events{}

// cpuTime is the process's user+system CPU time so far. On a shared
// machine it is steadier than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
