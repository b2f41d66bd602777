package clickhouse

import (
	"context"
	"fmt"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/event-grpc/event-grpc/internal/clustertest"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/sink/sinktest"
)

// The cluster tests run against the two ClickHouse replicas (one shard,
// cluster "scale", with ZooKeeper) of scripts/cluster/up.sh, native ports
// 9101 and 9102, which they start when they are not up.

var clusterAddrs = []string{"127.0.0.1:9101", "127.0.0.1:9102"}

const clusterName = "scale"

func onCluster(c *Config) { c.Addrs, c.Cluster = clusterAddrs, clusterName }

// replica is a plain connection to one replica.
func replica(t testing.TB, addr string) ch.Conn {
	t.Helper()
	conn, err := ch.Open(&ch.Options{Addr: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// dropClusterDatabase drops db on every replica.
func dropClusterDatabase(t testing.TB, db, cluster string) {
	t.Helper()
	for _, addr := range clusterAddrs {
		conn, err := ch.Open(&ch.Options{Addr: []string{addr}})
		if err != nil {
			continue
		}
		err = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+schema.QuoteIdent(db)+" ON CLUSTER "+schema.QuoteIdent(cluster))
		conn.Close()
		if err == nil {
			return
		}
	}
	t.Errorf("dropping database %s on cluster %s: no replica did", db, cluster)
}

// clusterSink starts the replicas when they are not up and opens a sink on
// the cluster with a database of its own, migrated to the all_types table.
func clusterSink(t *testing.T) (*Sink, string, *schema.Table) {
	clustertest.Script(t, "up.sh", "clickhouse")
	s, db := newSink(t, onCluster)
	tbl := sinktest.AllTypes(schema.Analytics)
	sinktest.Migrate(t, s, tbl)
	return s, db, tbl
}

// TestClusterConformance runs the sink suite against the two replicas:
// tables created ON CLUSTER as ReplicatedReplacingMergeTree behind a
// Distributed table, read back through the Distributed table with FINAL.
func TestClusterConformance(t *testing.T) {
	clustertest.Script(t, "up.sh", "clickhouse")
	sinktest.Run(t, harness(clusterAddrs[0], onCluster))
}

// TestClusterDDL: the tables exist on both replicas with the replicated
// engine, the Distributed table reads what either replica holds, and a
// column added to the declaration reaches both.
func TestClusterDDL(t *testing.T) {
	s, db, tbl := clusterSink(t)
	ctx := context.Background()
	for _, addr := range clusterAddrs {
		var engine string
		row := replica(t, addr).QueryRow(ctx, "SELECT engine FROM system.tables WHERE database = ? AND name = ?", db, tbl.Name+"_local")
		if err := row.Scan(&engine); err != nil || engine != "ReplicatedReplacingMergeTree" {
			t.Fatalf("%s: %s.%s_local engine %q (%v), want ReplicatedReplacingMergeTree", addr, db, tbl.Name, engine, err)
		}
		row = replica(t, addr).QueryRow(ctx, "SELECT engine FROM system.tables WHERE database = ? AND name = ?", db, tbl.Name)
		if err := row.Scan(&engine); err != nil || engine != "Distributed" {
			t.Fatalf("%s: %s.%s engine %q (%v), want Distributed", addr, db, tbl.Name, engine, err)
		}
	}
	more := sinktest.AllTypes(schema.Analytics)
	more.Columns = append(more.Columns, schema.Column{Name: "extra", Type: schema.String})
	sinktest.Migrate(t, s, more)
	for _, addr := range clusterAddrs {
		for _, name := range []string{tbl.Name, tbl.Name + "_local"} {
			var n uint64
			if err := replica(t, addr).QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = ? AND table = ? AND name = 'extra'", db, name).Scan(&n); err != nil || n != 1 {
				t.Fatalf("%s: column extra of %s.%s: %d (%v)", addr, db, name, n, err)
			}
		}
	}
}

// TestClusterReplicaKilled writes batches while the replica the sink is
// connected to is killed with SIGKILL. A failed Write is retried with the
// same batch, as the consumers do; it reaches the other replica, and
// whatever the killed one had committed is not stored twice (identical
// blocks are dropped by the replicated table). Every row is stored once.
func TestClusterReplicaKilled(t *testing.T) {
	s, db, tbl := clusterSink(t)
	ctx := context.Background()
	const batches, per = 60, 200
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	all := sinktest.AllTypesRows(t, tbl, batches*per, base)
	killed := false
	retries := 0
	start := time.Now()
	var outage time.Duration
	for i := 0; i < batches; i++ {
		if i == batches/3 {
			clustertest.Script(t, "node.sh", "clickhouse", "kill", "1")
			killed = true
		}
		b := sinktest.Batch(t, tbl, all[i*per:(i+1)*per])
		t0 := time.Now()
		for attempt := 0; ; attempt++ {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := s.Write(wctx, b)
			cancel()
			if err == nil {
				break
			}
			if fault.IsPermanent(err) {
				t.Fatalf("batch %d: permanent error %v", i, err)
			}
			if attempt > 60 {
				t.Fatalf("batch %d: still failing after %d tries: %v", i, attempt, err)
			}
			retries++
			time.Sleep(250 * time.Millisecond)
		}
		outage = max(outage, time.Since(t0))
	}
	if !killed {
		t.Fatal("the replica was never killed")
	}
	clustertest.Script(t, "up.sh", "clickhouse")
	live := replica(t, clusterAddrs[1])
	if err := live.Exec(ctx, fmt.Sprintf("SYSTEM SYNC REPLICA %s", schema.Qualify(db, tbl.Name+"_local"))); err != nil {
		t.Fatalf("sync replica: %v", err)
	}
	var total, distinct, final uint64
	q := schema.Qualify(db, tbl.Name)
	if err := live.QueryRow(ctx, "SELECT count(), uniqExact(id) FROM "+q).Scan(&total, &distinct); err != nil {
		t.Fatal(err)
	}
	if err := live.QueryRow(ctx, "SELECT count() FROM "+q+" FINAL").Scan(&final); err != nil {
		t.Fatal(err)
	}
	t.Logf("scenario=clickhouse_replica sent=%d stored=%d distinct=%d final=%d retries=%d longest_write_s=%.2f took=%s",
		batches*per, total, distinct, final, retries, outage.Seconds(), time.Since(start).Round(time.Millisecond))
	if distinct != batches*per || final != batches*per {
		t.Fatalf("distinct ids %d, rows under FINAL %d; want %d each (lost=%d)", distinct, final, batches*per, int(batches*per)-int(distinct))
	}
}
