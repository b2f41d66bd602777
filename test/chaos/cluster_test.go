package chaos

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/event-grpc/event-grpc/client/bench"
	"github.com/event-grpc/event-grpc/internal/clustertest"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// The cluster chaos suite: two service instances behind haproxy, on the
// clusters of scripts/cluster/up.sh (RabbitMQ 3 nodes with quorum queues
// or NATS 3 nodes with R3 streams; ClickHouse one shard of two replicas),
// under load through the load balancer while a node is killed with
// SIGKILL. Each scenario prints
//
//	scenario=NAME sent=N acked=N stored=N lost=N duplicates=N outage_s=X
//
// and must show lost=0 and duplicates=0 (rows visible twice under FINAL).
// scripts/cluster/chaos.sh runs the short version, --full the long one.

// clusterAdminToken opens the instances' operator routes to the suite.
const clusterAdminToken = "cluster-chaos-admin-token-0123456789"

const (
	clusterCH     = "9102" // the replica that is never killed: counts are read there
	clusterEvents = "grpc_clickhouse_event_q"
)

type clusterScenario struct {
	name   string
	broker string // rabbitmq or nats
	// disturb runs once, at plan.at[0] into the load; it may return a
	// function that restores what it broke, run after the load.
	disturb func(t *testing.T, c *clusterRun) (restore func())
	short   plan
	full    plan
	// fullOnly: run by --full only (see its entry for why).
	fullOnly bool
}

type clusterRun struct {
	name, dir, db, vhost, stream string
	insts                        []*instance
	lbGRPC, lbHTTP               string
}

func clusterScenarios() []clusterScenario {
	short := plan{load: 14 * time.Second, at: []time.Duration{4 * time.Second}}
	full := plan{load: 60 * time.Second, at: []time.Duration{20 * time.Second}}
	return []clusterScenario{
		// Full only for now: in one of three runs two acked AliasEvents
		// reached the `event` table but not `aliases` when the node
		// leading the quorum queues was killed (an open defect; the
		// broker-level leader test, TestClusterLeaderKilled, loses nothing,
		// also with every message routed to two quorum queues). Seen again
		// with quorum leaders being moved (rabbit_amqqueue:rebalance) just
		// before the kill: 3 acked events missing from `screens` and
		// `pages`, ingested 0.7-2.1 s after the kill, on the reconnected
		// instances; on no replica, not held by the broker.
		// A run that misses events logs where they are (explainClusterMiss).
		{name: "rabbitmq_leader", broker: "rabbitmq", fullOnly: true, short: short, full: full, disturb: func(t *testing.T, c *clusterRun) func() {
			n := cluster(t, "node.sh", "rabbitmq", "leader", clusterEvents, c.vhost)
			t.Logf("killing rq%s, the leader of %s", n, clusterEvents)
			cluster(t, "node.sh", "rabbitmq", "kill", n)
			return func() { cluster(t, "up.sh", "rabbitmq") }
		}},
		{name: "clickhouse_replica", broker: "rabbitmq", short: short, full: full, disturb: func(t *testing.T, c *clusterRun) func() {
			cluster(t, "node.sh", "clickhouse", "kill", "1")
			return func() { cluster(t, "up.sh", "clickhouse") }
		}},
		{name: "nats_leader", broker: "nats", short: short, full: full, disturb: func(t *testing.T, c *clusterRun) func() {
			leader := natsLeader(t, c.stream+"_"+clusterEvents)
			t.Logf("killing %s, the leader of %s_%s", leader, c.stream, clusterEvents)
			cluster(t, "node.sh", "nats", "kill", strings.TrimPrefix(leader, "n"))
			return func() { cluster(t, "up.sh", "nats") }
		}},
		{name: "instance", broker: "rabbitmq", short: short, full: full, disturb: func(t *testing.T, c *clusterRun) func() {
			if err := c.insts[0].kill9(); err != nil {
				t.Errorf("kill -9 %s: %v", c.insts[0].name, err)
			}
			return nil
		}},
		{name: "drain", broker: "rabbitmq", short: short, full: full, disturb: func(t *testing.T, c *clusterRun) func() {
			// What a load balancer's operator does before taking an
			// instance away: heartbeat off, traffic moves to the other.
			req, _ := http.NewRequest(http.MethodPut, "http://"+c.insts[0].httpAddr+"/heartbeat?beat=false", nil)
			req.Header.Set("Authorization", "Bearer "+clusterAdminToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("heartbeat off: %v", err)
				return nil
			}
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				t.Errorf("heartbeat off: %s", resp.Status)
			}
			return nil
		}},
	}
}

// cluster runs scripts/cluster/NAME.
func cluster(t *testing.T, name string, args ...string) string {
	t.Helper()
	return clustertest.Script(t, name, args...)
}

func natsCluster(t *testing.T) natsjs.JetStream {
	t.Helper()
	nc, err := nats.Connect("nats://127.0.0.1:4231,nats://127.0.0.1:4232,nats://127.0.0.1:4233", nats.MaxReconnects(-1))
	if err != nil {
		t.Fatalf("nats cluster: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func natsLeader(t *testing.T, stream string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := natsCluster(t).Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil || info.Cluster == nil || info.Cluster.Leader == "" {
		t.Fatalf("stream %s has no leader: %v", stream, err)
	}
	if info.Config.Replicas != 3 {
		t.Fatalf("stream %s has %d replicas, want 3", stream, info.Config.Replicas)
	}
	return info.Cluster.Leader
}

// haproxy starts haproxy in front of the instances: TCP for gRPC, HTTP for
// the rest, both checked on each instance's readiness endpoint.
func haproxy(t *testing.T, c *clusterRun) {
	t.Helper()
	if _, err := exec.LookPath("haproxy"); err != nil {
		out, err := exec.Command("apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "-q", "haproxy").CombinedOutput()
		if err != nil {
			t.Fatalf("installing haproxy: %v\n%s", err, out)
		}
	}
	grpcPort, httpPort := freePort(t), freePort(t)
	c.lbGRPC, c.lbHTTP = "127.0.0.1:"+grpcPort, "127.0.0.1:"+httpPort
	var b strings.Builder
	fmt.Fprintf(&b, `global
  maxconn 4096
defaults
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  retries 3
  option redispatch
frontend grpc
  mode tcp
  bind %s
  default_backend grpc
frontend http
  mode http
  bind %s
  default_backend http
backend grpc
  mode tcp
  balance roundrobin
  option httpchk GET /heartbeat
`, c.lbGRPC, c.lbHTTP)
	for i, in := range c.insts {
		_, hp, _ := strings.Cut(in.httpAddr, ":")
		fmt.Fprintf(&b, "  server i%d %s check port %s inter 500ms fall 2 rise 2\n", i, in.grpcAddr, hp)
	}
	b.WriteString("backend http\n  mode http\n  balance roundrobin\n  option httpchk GET /heartbeat\n")
	for i, in := range c.insts {
		fmt.Fprintf(&b, "  server i%d %s check inter 500ms fall 2 rise 2\n", i, in.httpAddr)
	}
	cfg := filepath.Join(c.dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("haproxy", "-c", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	logf, err := os.Create(filepath.Join(c.dir, "haproxy.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("haproxy", "-db", "-f", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("haproxy: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + c.lbHTTP + "/heartbeat")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy at %s does not reach a ready instance: %v", c.lbHTTP, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestClusterChaos runs each cluster scenario in turn.
func TestClusterChaos(t *testing.T) {
	cluster(t, "up.sh")
	bin := buildBinary(t, t.TempDir())
	prev := chPort
	chPort = clusterCH
	t.Cleanup(func() { chPort = prev })
	topo := topology.Default()
	for _, sc := range clusterScenarios() {
		if sc.fullOnly && !*full {
			t.Logf("scenario %s runs with scripts/cluster/chaos.sh --full only", sc.name)
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			p := sc.short
			if *full {
				p = sc.full
			}
			began := time.Now()
			runClusterScenario(t, bin, topo, sc, p)
			t.Logf("%s took %v (full=%v)", sc.name, time.Since(began).Round(100*time.Millisecond), *full)
		})
	}
}

func runClusterScenario(t *testing.T, bin string, topo *topology.Topology, sc clusterScenario, p plan) {
	// Whatever the scenario broke comes back before the next.
	t.Cleanup(func() { cluster(t, "up.sh") })
	dir, err := os.MkdirTemp("", "cluster-chaos-"+sc.name+"-")
	if err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("cchaos_%s_%d", sc.name, time.Now().UnixNano())
	c := &clusterRun{name: sc.name, dir: dir, db: id, vhost: id, stream: strings.ToUpper(id)}
	env := map[string]string{
		"ADMIN_TOKEN": clusterAdminToken, // PUT /heartbeat is an operator route
		"SINK":        "clickhouse", "CLICKHOUSE_DB_NAMES": c.db,
		"CLICKHOUSE_ADDRS": "127.0.0.1:9101,127.0.0.1:9102", "CLICKHOUSE_CLUSTER": "scale",
	}
	switch sc.broker {
	case "rabbitmq":
		addVhost := func() error {
			var err error
			for _, n := range []string{"1", "2", "3"} {
				cmd := exec.Command(clustertest.Path("node.sh"), "rabbitmq", "ctl", n, "add_vhost", c.vhost)
				if err = cmd.Run(); err == nil {
					return exec.Command(clustertest.Path("node.sh"), "rabbitmq", "ctl", n, "set_permissions", "-p", c.vhost, "guest", ".*", ".*", ".*").Run()
				}
			}
			return err
		}
		if err := addVhost(); err != nil {
			t.Fatalf("vhost %s: %v", c.vhost, err)
		}
		env["BROKER"] = "rabbitmq"
		env["RABBIT_ADDRS"] = "127.0.0.1:5701,127.0.0.1:5702,127.0.0.1:5703"
		env["RABBIT_VHOST"] = c.vhost
	case "nats":
		env["BROKER"] = "nats"
		env["NATS_URL"] = "nats://127.0.0.1:4231,nats://127.0.0.1:4232,nats://127.0.0.1:4233"
		env["NATS_STREAM_REPLICAS"] = "3"
		env["NATS_STREAM"] = c.stream
	}
	t.Cleanup(func() {
		if sc.broker == "nats" {
			// Streams reserve their byte bound on every replica: never
			// keep them, or the cluster's store fills up run by run.
			js := natsCluster(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var names []string
			for n := range js.StreamNames(ctx).Name() {
				if strings.HasPrefix(n, c.stream+"_") {
					names = append(names, n)
				}
			}
			for _, n := range names {
				_ = js.DeleteStream(ctx, n)
			}
		}
		if t.Failed() {
			t.Logf("kept for inspection: directory %s, ClickHouse database %s", c.dir, c.db)
			return
		}
		_, _ = chQuery(context.Background(), "DROP DATABASE IF EXISTS "+c.db+" ON CLUSTER scale", nil)
		for _, n := range []string{"1", "2", "3"} {
			if exec.Command(clustertest.Path("node.sh"), "rabbitmq", "ctl", n, "delete_vhost", c.vhost).Run() == nil {
				break
			}
		}
		os.RemoveAll(c.dir)
	})

	for i := range 2 {
		in := newInstance(t, fmt.Sprintf("%s-%d", sc.name, i), bin, dir, env)
		in.readyWait = 4 * time.Minute // 54 R3 streams or ~80 tables ON CLUSTER on a busy machine
		if err := in.start(); err != nil {
			t.Fatalf("%v\n%s", err, in.logTail(40))
		}
		c.insts = append(c.insts, in)
	}
	haproxy(t, c)

	ctx, cancel := context.WithTimeout(context.Background(), p.load+5*time.Minute)
	defer cancel()
	start := time.Now()
	var restore func()
	var disturbed time.Time
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-time.After(p.at[0]):
		case <-ctx.Done():
			return
		}
		disturbed = time.Now()
		restore = sc.disturb(t, c)
	}()
	idFile := filepath.Join(dir, "acked")
	res, loadErr := bench.Run(ctx, bench.Config{
		Target:      c.lbGRPC,
		Concurrency: loadConcurrency,
		Batch:       loadBatch,
		Duration:    p.load,
		Rate:        loadRate,
		OutPath:     idFile,
		DialTimeout: 10 * time.Second,
	})
	wg.Wait()
	if loadErr != nil {
		t.Fatalf("load: %v", loadErr)
	}
	t.Logf("bench through haproxy: %s", res.Breakdown())
	for code, n := range res.ByCode {
		if code != "UNAVAILABLE" && code != "RESOURCE_EXHAUSTED" {
			t.Errorf("%d dispatches failed with %s; only UNAVAILABLE or RESOURCE_EXHAUSTED are expected", n, code)
		}
	}
	if res.Rejected != 0 {
		// A request some of whose messages were confirmed before the
		// broker went away answers the others one by one as not durable
		// (UNAVAILABLE: retry them); they are not acked, so they count
		// like refusals here and in the lost figure.
		t.Logf("%d events were rejected one by one (not durable, retryable)", res.Rejected)
	}
	if restore != nil {
		restore()
	}
	ids, err := readIDs([]string{idFile})
	if err != nil {
		t.Fatal(err)
	}
	acked := int64(len(ids))
	if acked == 0 {
		t.Fatal("no event was acked")
	}
	outage := longestGap(ids, start, start.Add(p.load))

	mctx, mcancel := context.WithTimeout(context.Background(), storeDeadline+time.Minute)
	defer mcancel()
	if err := loadAcked(mctx, c.db, []string{idFile}); err != nil {
		t.Fatal(err)
	}
	stored, missing, _ := waitStored(t, mctx, c.db, acked, typedTables(topo))
	// Rows visible twice where readers look: event under FINAL, through
	// the Distributed table.
	final, err := chInt(mctx, "SELECT count() FROM "+c.db+".event FINAL")
	if err != nil {
		t.Fatal(err)
	}
	distinct, err := chInt(mctx, "SELECT uniqExact(event_id) FROM "+c.db+".event")
	if err != nil {
		t.Fatal(err)
	}
	dups := final - distinct
	lost := acked - stored
	fmt.Printf("scenario=%s sent=%d acked=%d stored=%d lost=%d duplicates=%d outage_s=%.2f\n",
		"cluster_"+sc.name, res.Sent, acked, stored, lost, dups, outage.Seconds())
	if lost != 0 {
		t.Errorf("%d acked events are not stored", lost)
	}
	if dups != 0 {
		t.Errorf("%d rows visible twice under FINAL", dups)
	}
	var sumMissing int64
	for table, n := range missing {
		if n > 0 {
			sumMissing += n
			t.Errorf("%d acked events stored in `event` are missing from their typed table %s", n, table)
		}
	}
	if lost != 0 || sumMissing != 0 {
		explainClusterMiss(t, mctx, c, sc, topo, start, disturbed)
	}
}

// explainClusterMiss logs what is known of acked events missing from
// `event` or from their typed table: a sample with their ingest times on
// the scenario's timeline, the broker's queues (ready, unacked, consumers,
// leader), the instances' consume and broker counters and their logs.
func explainClusterMiss(t *testing.T, ctx context.Context, c *clusterRun, sc clusterScenario, topo *topology.Topology, start, disturbed time.Time) {
	t.Helper()
	at := func(id string) string {
		ts, ok := uuidTime(id)
		if !ok {
			return "?"
		}
		s := fmt.Sprintf("+%.3fs", ts.Sub(start).Seconds())
		if !disturbed.IsZero() {
			s += fmt.Sprintf(" (%+.3fs from the disturbance)", ts.Sub(disturbed).Seconds())
		}
		return s
	}
	if out, err := chQuery(ctx, "SELECT event_id FROM "+c.db+".chaos_acked WHERE event_id NOT IN (SELECT event_id FROM "+c.db+".event) ORDER BY event_id LIMIT 20", nil); err == nil {
		for _, id := range strings.Fields(out) {
			t.Logf("not in event: %s ingested %s", id, at(id))
		}
	}
	for _, tt := range typedTables(topo) {
		out, err := chQuery(ctx, fmt.Sprintf("SELECT event_id FROM %s.event FINAL WHERE event_name = '%s' AND event_id IN (SELECT event_id FROM %s.chaos_acked) AND event_id NOT IN (SELECT event_id FROM %s.%s) ORDER BY event_id LIMIT 20",
			c.db, tt.event, c.db, c.db, tt.table), nil)
		if err != nil {
			t.Logf("typed table %s: %v", tt.table, err)
			continue
		}
		ids := strings.Fields(out)
		for _, id := range ids {
			t.Logf("in event, not in %s: %s ingested %s", tt.table, id, at(id))
		}
		if len(ids) == 0 {
			continue
		}
		// Where are they, replica by replica?
		list := "'" + strings.Join(ids, "','") + "'"
		for _, port := range []string{"9101", "9102"} {
			for _, tb := range []string{tt.table + "_local", "event_local"} {
				q := fmt.Sprintf("SELECT count() FROM %s.%s WHERE event_id IN (%s)", c.db, tb, list)
				out, err := exec.CommandContext(ctx, "clickhouse-client", "--host", "127.0.0.1", "--port", port, "-q", q).CombinedOutput()
				t.Logf("replica %s: %d of them in %s: %s %v", port, len(ids), tb, strings.TrimSpace(string(out)), err)
			}
			q := "SELECT database, table, type, num_tries, last_exception FROM system.replication_queue WHERE database = '" + c.db + "'"
			out, _ := exec.CommandContext(ctx, "clickhouse-client", "--host", "127.0.0.1", "--port", port, "-q", q).CombinedOutput()
			t.Logf("replica %s replication queue:\n%s", port, out)
		}
	}
	if sc.broker == "rabbitmq" {
		for _, n := range []string{"1", "2", "3"} {
			out, err := exec.Command(clustertest.Path("node.sh"), "rabbitmq", "ctl", n, "list_queues", "-p", c.vhost,
				"name", "messages_ready", "messages_unacknowledged", "consumers", "leader", "online").CombinedOutput()
			if err != nil {
				continue
			}
			var rows []string
			for _, line := range strings.Split(string(out), "\n") {
				f := strings.Fields(line)
				if len(f) >= 3 && (f[1] != "0" || f[2] != "0") {
					rows = append(rows, line)
				}
			}
			t.Logf("queues holding messages (name ready unacked consumers leader online), from rq%s:\n%s", n, strings.Join(rows, "\n"))
			break
		}
		for _, n := range []string{"1", "2", "3"} {
			out, err := exec.Command(clustertest.Path("node.sh"), "rabbitmq", "ctl", n, "eval", quorumEnqueuers(c.vhost)).CombinedOutput()
			if err != nil {
				continue
			}
			t.Logf("quorum queues' enqueuers (node, next seqno, pending) and overview, from rq%s:\n%s", n, out)
			break
		}
	}
	if sc.broker == "rabbitmq" {
		// Stuck or gone? Missing events that land once every connection
		// (the instances' publisher and consumer channels) is closed and
		// opened again were held by the broker, not lost.
		for _, n := range []string{"1", "2", "3"} {
			if out, err := exec.Command(clustertest.Path("node.sh"), "rabbitmq", "ctl", n, "close_all_connections", "--global", "chaos probe").CombinedOutput(); err == nil {
				t.Logf("closed every connection from rq%s: %s", n, out)
				break
			}
		}
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			time.Sleep(3 * time.Second)
			stored, _, missing, err := measure(ctx, c.db, typedTables(topo))
			if err != nil {
				t.Log(err)
				break
			}
			var sum int64
			for _, n := range missing {
				sum += n
			}
			t.Logf("after closing the connections: stored %d, typed tables missing %v", stored, missing)
			if sum == 0 {
				break
			}
		}
	}
	for _, in := range c.insts {
		if m, err := in.metrics("eventgrpc_consume_", "eventgrpc_rabbitmq_"); err == nil {
			keys := make([]string, 0, len(m))
			for k := range m {
				if !strings.Contains(k, "_bucket") && !strings.Contains(k, "latency") && !strings.Contains(k, "_seconds") {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			var b strings.Builder
			for _, k := range keys {
				fmt.Fprintf(&b, "%s %g\n", k, m[k])
			}
			t.Logf("counters of %s:\n%s", in.name, b.String())
		}
		t.Logf("log of %s (%s), last lines:\n%s", in.name, in.logPath, in.logTail(80))
	}
}

// quorumEnqueuers is an Erlang expression for rabbitmqctl eval listing,
// for each quorum queue of vhost holding an enqueuer, the queue's state as
// its local member sees it: each enqueuer's node, next expected sequence
// number and out-of-order messages it holds, and the queue's overview.
func quorumEnqueuers(vhost string) string {
	return `lists:filtermap(fun(Q) ->
  {Name, _} = amqqueue:get_pid(Q),
  case ra:local_query({Name, node()}, fun(S) -> S end) of
    {ok, {_, S}, _} ->
      Enqs = [M || M <- tuple_to_list(S), is_map(M), maps:size(M) > 0,
                   lists:all(fun(V) -> is_tuple(V) andalso element(1, V) =:= enqueuer end, maps:values(M))],
      L = [{node(P), P, element(2, E), case element(3, E) of X when is_list(X) -> {pending, length(X), [element(1, Y) || Y <- X]}; X -> X end, element(4, E)}
           || Map <- Enqs, {P, E} <- maps:to_list(Map)],
      {true, {Name, L, catch rabbit_fifo:overview(S)}};
    Err -> {true, {Name, Err}}
  end
end, [Q || Q <- rabbit_amqqueue:list(<<"` + vhost + `">>), amqqueue:get_type(Q) =:= rabbit_quorum_queue,
           lists:member(element(4, amqqueue:get_name(Q)), [<<"generic_alias_q">>, <<"grpc_clickhouse_event_q">>])]).`
}

// longestGap is the longest time within [from, to] in which no acked event
// was minted (the ids are UUIDv7, stamped at ingest).
func longestGap(ids []string, from, to time.Time) time.Duration {
	ts := make([]time.Time, 0, len(ids)+2)
	ts = append(ts, from)
	for _, id := range ids {
		if at, ok := uuidTime(id); ok && !at.Before(from) && !at.After(to) {
			ts = append(ts, at)
		}
	}
	ts = append(ts, to)
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	var gap time.Duration
	for i := 1; i < len(ts); i++ {
		gap = max(gap, ts[i].Sub(ts[i-1]))
	}
	return gap
}
