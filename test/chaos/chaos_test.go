package chaos

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/client/bench"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// The load: moderate, so that the 2-core machine (which also runs RabbitMQ,
// ClickHouse and the service) is not saturated into timeouts. The point is
// counting, not speed.
const (
	loadConcurrency = 8
	loadBatch       = 50
	loadRate        = 200 // dispatches per second, all workers together

	// eventQueue is the queue that fills the `event` table.
	eventQueue = "grpc_clickhouse_event_q"

	storeDeadline = 3 * time.Minute // for the acked ids to reach ClickHouse
	storeStall    = 45 * time.Second
	drainDeadline = 60 * time.Second // for the event queues to be empty at the end
)

// plan is the timing of one scenario: how long the load runs, when (from
// the start of the load) each disturbance begins, and how long an outage
// lasts.
type plan struct {
	load   time.Duration
	at     []time.Duration
	outage time.Duration
}

type scenario struct {
	name        string
	instances   int
	poison      float64
	short, full plan
	// killed are the instances that are down at the end on purpose.
	killed []int
	// disturb runs alongside the load.
	disturb func(ctx context.Context, r *run, p plan) error
}

func scenarios() []scenario {
	return []scenario{
		{
			name: "kill9", instances: 1,
			short:   plan{load: 12 * time.Second, at: []time.Duration{4 * time.Second}},
			full:    plan{load: 32 * time.Second, at: []time.Duration{6 * time.Second, 14 * time.Second, 22 * time.Second}},
			disturb: disturbKill9,
		},
		{
			name: "sigterm", instances: 1,
			short:   plan{load: 12 * time.Second, at: []time.Duration{4 * time.Second}},
			full:    plan{load: 25 * time.Second, at: []time.Duration{10 * time.Second}},
			disturb: disturbSigterm,
		},
		{
			name: "rabbitmq", instances: 1,
			short:   plan{load: 26 * time.Second, at: []time.Duration{3 * time.Second}, outage: 5 * time.Second},
			full:    plan{load: 30 * time.Second, at: []time.Duration{8 * time.Second}, outage: 5 * time.Second},
			disturb: disturbRabbitMQ,
		},
		{
			name: "clickhouse", instances: 1,
			// The load outlasts ClickHouse's stop (up to ~3 s), the outage
			// and its restart (~3 s) on a busy machine.
			short:   plan{load: 24 * time.Second, at: []time.Duration{3 * time.Second}, outage: 8 * time.Second},
			full:    plan{load: 42 * time.Second, at: []time.Duration{5 * time.Second}, outage: 30 * time.Second},
			disturb: disturbClickHouse,
		},
		{
			name: "poison", instances: 1, poison: 0.01,
			short: plan{load: 8 * time.Second},
			full:  plan{load: 25 * time.Second},
		},
		{
			name: "two_instances", instances: 2, killed: []int{0},
			short:   plan{load: 12 * time.Second, at: []time.Duration{4 * time.Second}},
			full:    plan{load: 25 * time.Second, at: []time.Duration{10 * time.Second}},
			disturb: disturbKillOne,
		},
	}
}

// TestChaos runs the six scenarios in turn against the real binary, real
// RabbitMQ and real ClickHouse, and prints one count line for each.
func TestChaos(t *testing.T) {
	bin := buildBinary(t, t.TempDir())
	// Whatever happens, leave RabbitMQ and ClickHouse running.
	t.Cleanup(restoreServers(t))
	topo := topology.Default()
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			p := sc.short
			if *full {
				p = sc.full
			}
			began := time.Now()
			runScenario(t, bin, topo, sc, p)
			t.Logf("%s took %v (full=%v)", sc.name, time.Since(began).Round(100*time.Millisecond), *full)
		})
	}
}

func restoreServers(t *testing.T) func() {
	return func() {
		if err := rabbitctl("start_app"); err != nil {
			t.Errorf("restore RabbitMQ: %v", err)
		}
		if err := ensureClickHouse(); err != nil {
			t.Errorf("restore ClickHouse: %v", err)
		}
	}
}

// run is the state of one scenario.
type run struct {
	t     *testing.T
	name  string
	dir   string // logs, id files, data dirs
	db    string
	vhost string // the scenario's RabbitMQ virtual host
	insts []*instance
	start time.Time // of the load

	mu        sync.Mutex
	marks     []string
	recovered time.Time // the system is whole again after the last disturbance
	outage    [2]time.Time
}

// mark notes a moment of the disturbance on the scenario's timeline.
func (r *run) mark(format string, args ...any) time.Time {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.marks = append(r.marks, fmt.Sprintf("+%.1fs %s", now.Sub(r.start).Seconds(), fmt.Sprintf(format, args...)))
	return now
}

func (r *run) setRecovered(at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recovered = at
}

// sleepUntil waits until offset d after the start of the load.
func (r *run) sleepUntil(ctx context.Context, d time.Duration) error {
	if wait := time.Until(r.start.Add(d)); wait > 0 {
		return sleepCtx(ctx, wait)
	}
	return nil
}

func disturbKill9(ctx context.Context, r *run, p plan) error {
	in := r.insts[0]
	for i, at := range p.at {
		if err := r.sleepUntil(ctx, at); err != nil {
			return err
		}
		if err := in.kill9(); err != nil {
			return err
		}
		r.mark("SIGKILL #%d", i+1)
		if err := in.start(); err != nil {
			return err
		}
		r.setRecovered(r.mark("restarted, ready"))
	}
	return nil
}

func disturbSigterm(ctx context.Context, r *run, p plan) error {
	in := r.insts[0]
	if err := r.sleepUntil(ctx, p.at[0]); err != nil {
		return err
	}
	r.mark("SIGTERM")
	if err := in.term(); err != nil {
		return err
	}
	r.mark("drained, exit 0")
	if err := in.start(); err != nil {
		return err
	}
	r.setRecovered(r.mark("restarted, ready"))
	return nil
}

func disturbRabbitMQ(ctx context.Context, r *run, p plan) error {
	in := r.insts[0]
	if err := r.sleepUntil(ctx, p.at[0]); err != nil {
		return err
	}
	r.mark("rabbitmqctl stop_app")
	if err := rabbitctl("stop_app"); err != nil {
		return err
	}
	r.mark("RabbitMQ stopped")
	// Readiness must tell the truth while the broker is gone.
	deadline := time.Now().Add(p.outage)
	notReady := false
	for time.Now().Before(deadline) {
		if !in.ready() {
			notReady = true
			r.mark("/heartbeat not 200")
			break
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	if err := sleepCtx(ctx, time.Until(deadline)); err != nil {
		return err
	}
	r.mark("rabbitmqctl start_app")
	if err := rabbitctl("start_app"); err != nil {
		return err
	}
	r.mark("RabbitMQ started")
	if err := in.waitHeartbeat(ctx, 90*time.Second); err != nil {
		return err
	}
	r.setRecovered(r.mark("service ready again"))
	if !notReady {
		return errors.New("/heartbeat stayed 200 while RabbitMQ was stopped")
	}
	return nil
}

func disturbClickHouse(ctx context.Context, r *run, p plan) error {
	if err := r.sleepUntil(ctx, p.at[0]); err != nil {
		return err
	}
	if err := stopClickHouse(); err != nil {
		return err
	}
	from := r.mark("ClickHouse stopped")
	if err := sleepCtx(ctx, p.outage); err != nil {
		return err
	}
	if err := ensureClickHouse(); err != nil {
		return err
	}
	to := r.mark("ClickHouse answers again")
	r.mu.Lock()
	r.outage = [2]time.Time{from, to}
	r.mu.Unlock()
	r.setRecovered(to)
	return nil
}

func disturbKillOne(ctx context.Context, r *run, p plan) error {
	if err := r.sleepUntil(ctx, p.at[0]); err != nil {
		return err
	}
	if err := r.insts[0].kill9(); err != nil {
		return err
	}
	r.setRecovered(r.mark("SIGKILL %s (not restarted)", r.insts[0].name))
	return nil
}

func runScenario(t *testing.T, bin string, topo *topology.Topology, sc scenario, p plan) {
	keep := os.Getenv("CHAOS_KEEP") == "1"
	dir, err := os.MkdirTemp("", "chaos-"+sc.name+"-")
	if err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("chaos_%s_%d", sc.name, time.Now().UnixNano())
	r := &run{t: t, name: sc.name, dir: dir, db: id, vhost: id}
	// A virtual host of its own: nothing else running the default topology
	// on this RabbitMQ can take the scenario's messages, and it starts empty.
	if err := rabbitctl("add_vhost", r.vhost); err != nil {
		t.Fatal(err)
	}
	if err := rabbitctl("set_permissions", "-p", r.vhost, "guest", ".*", ".*", ".*"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if keep || t.Failed() {
			t.Logf("kept for inspection: directory %s (service logs, acked id files), ClickHouse database %s, RabbitMQ vhost %s", r.dir, r.db, r.vhost)
			return
		}
		if _, err := chQuery(context.Background(), "DROP DATABASE IF EXISTS "+r.db, nil); err != nil {
			t.Errorf("drop %s: %v", r.db, err)
		}
		if err := rabbitctl("delete_vhost", r.vhost); err != nil {
			t.Errorf("delete vhost: %v", err)
		}
		os.RemoveAll(r.dir)
	})
	if sc.name == "rabbitmq" || sc.name == "clickhouse" {
		t.Cleanup(restoreServers(t))
	}

	queues, eventQueues := queueNames(topo)

	env := map[string]string{"BROKER": "rabbitmq", "RABBIT_VHOST": r.vhost, "SINK": "clickhouse", "CLICKHOUSE_DB_NAMES": r.db}
	for i := range sc.instances {
		in := newInstance(t, fmt.Sprintf("%s-%d", sc.name, i), bin, dir, env)
		if err := in.start(); err != nil {
			t.Fatal(err)
		}
		r.insts = append(r.insts, in)
	}

	// Watch for consumers that are not ours on the event queue: they would
	// carry acked events off to another database.
	perInstance := 0
	if q, ok := topo.Queue(eventQueue); ok {
		perInstance = q.Consumers
	}
	sampleCtx, stopSampling := context.WithCancel(context.Background())
	maxConsumers := make(chan int, 1)
	go func() {
		maxSeen := 0
		for {
			maxSeen = max(maxSeen, queueConsumers(r.vhost, eventQueue))
			if sleepCtx(sampleCtx, 2*time.Second) != nil {
				maxConsumers <- maxSeen
				return
			}
		}
	}()
	defer stopSampling()

	// Load and disturbance together.
	ctx, cancel := context.WithTimeout(context.Background(), p.load+5*time.Minute)
	defer cancel()
	r.start = time.Now()
	var disturbErr error
	var wg sync.WaitGroup
	if sc.disturb != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			disturbErr = sc.disturb(ctx, r, p)
		}()
	}
	results, idFiles, loadErr := runLoad(ctx, r, p, sc.poison)
	wg.Wait()
	loadEnd := time.Now()
	for _, m := range r.marks {
		t.Log("timeline:", m)
	}
	t.Logf("load ended at +%.1fs", loadEnd.Sub(r.start).Seconds())
	if loadErr != nil {
		t.Fatalf("load: %v", loadErr)
	}
	if disturbErr != nil {
		t.Fatalf("disturbance: %v", disturbErr)
	}
	for i, in := range r.insts {
		_, _, alive := in.running()
		if want := !contains(sc.killed, i); alive != want {
			t.Errorf("%s: running=%v at the end of the load, want %v (exit %v):\n%s", in.name, alive, want, in.exitErr(), in.logTail(30))
		}
	}

	for _, in := range r.insts {
		if _, _, alive := in.running(); alive {
			m, err := in.metrics("eventgrpc_ingest_events_rejected_total", "eventgrpc_ingest_events_refused_total",
				"eventgrpc_ingest_events_duplicate_total", "eventgrpc_publish_errors_total")
			if err != nil {
				t.Logf("%s metrics: %v", in.name, err)
			}
			series := make([]string, 0, len(m))
			for k, v := range m {
				series = append(series, fmt.Sprintf("%s %v", k, v))
			}
			sort.Strings(series)
			t.Logf("%s (start #%d) metrics: %s", in.name, in.startCount(), strings.Join(series, "; "))
		}
	}

	// What the clients were told.
	var tot bench.Result
	tot.ByCode = map[string]int64{}
	for _, res := range results {
		t.Logf("bench %s: %s", res.Target, res.Breakdown())
		tot.Sent += res.Sent
		tot.Acked += res.Acked
		tot.Rejected += res.Rejected
		tot.Poisoned += res.Poisoned
		tot.Errors += res.Errors
		tot.Mismatched += res.Mismatched
		tot.IDsWritten += res.IDsWritten
		for c, n := range res.ByCode {
			tot.ByCode[c] += n
		}
	}
	ids, err := readIDs(idFiles)
	if err != nil {
		t.Fatal(err)
	}
	acked := int64(len(ids))
	if acked != tot.Acked || tot.IDsWritten != tot.Acked {
		t.Errorf("id files hold %d ids (%d written), bench counted %d acked", acked, tot.IDsWritten, tot.Acked)
	}
	checkLoad(t, r, sc, p, tot, ids)

	// What ClickHouse holds.
	mctx, mcancel := context.WithTimeout(context.Background(), storeDeadline+time.Minute)
	defer mcancel()
	if err := loadAcked(mctx, r.db, idFiles); err != nil {
		t.Fatal(err)
	}
	typed := typedTables(topo)
	stored, typedMissing, dups := waitStored(t, mctx, r.db, acked, typed)
	lost := acked - stored
	fmt.Printf("scenario=%s sent=%d acked=%d refused=%d stored=%d duplicates_before_dedupe=%d lost=%d\n",
		sc.name, tot.Sent, acked, tot.Sent-acked, stored, dups, lost)
	if all, err := chInt(mctx, "SELECT uniqExact(event_id) FROM "+r.db+".event"); err == nil {
		t.Logf("event holds %d distinct ids: %d acked + %d that were published but not acknowledged to the client", all, stored, all-stored)
	}
	if lost != 0 || stored != acked {
		explainLoss(t, mctx, r, acked, stored)
	}
	for table, n := range typedMissing {
		if n > 0 {
			t.Errorf("%d acked events stored in `event` are missing from their typed table %s", n, table)
		}
	}

	stopSampling()
	if seen := <-maxConsumers; seen > perInstance*sc.instances {
		t.Errorf("%s had up to %d consumers, but this scenario runs %d instance(s) of %d: a consumer outlived its instance or another process consumed the scenario's queues, so the counts above are not this service's alone",
			eventQueue, seen, sc.instances, perInstance)
	}
	checkQueues(t, r.vhost, eventQueues, queues)
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// runLoad runs bench against the scenario's instances, the workers and the
// rate split between them, each with its own id file.
func runLoad(ctx context.Context, r *run, p plan, poison float64) ([]bench.Result, []string, error) {
	n := len(r.insts)
	results := make([]bench.Result, n)
	errs := make([]error, n)
	files := make([]string, n)
	var wg sync.WaitGroup
	for i, in := range r.insts {
		files[i] = filepath.Join(r.dir, in.name+".acked")
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = bench.Run(ctx, bench.Config{
				Target:      in.grpcAddr,
				Concurrency: max(1, loadConcurrency/n),
				Batch:       loadBatch,
				Duration:    p.load,
				Rate:        float64(loadRate) / float64(n),
				Poison:      poison,
				OutPath:     files[i],
				DialTimeout: 10 * time.Second,
			})
		}()
	}
	wg.Wait()
	return results, files, errors.Join(errs...)
}

// checkLoad: every event is accounted for, the refusals are the allowed
// kinds, poison is rejected (and nothing else is), and the load went on
// after the disturbance.
func checkLoad(t *testing.T, r *run, sc scenario, p plan, tot bench.Result, ids []string) {
	t.Helper()
	if tot.Mismatched != 0 {
		t.Errorf("%d responses whose accepted+rejected was not their batch size", tot.Mismatched)
	}
	for code, n := range tot.ByCode {
		if code != "UNAVAILABLE" && code != "RESOURCE_EXHAUSTED" {
			t.Errorf("%d dispatches failed with %s; only UNAVAILABLE or RESOURCE_EXHAUSTED are expected", n, code)
		}
	}
	if tot.Acked == 0 {
		t.Fatal("no event was acked")
	}
	if sc.poison > 0 {
		switch {
		case tot.Poisoned == 0:
			t.Error("no poison event was sent")
		case tot.Rejected == 0:
			t.Errorf("none of %d poison events was rejected", tot.Poisoned)
		case tot.Rejected > tot.Poisoned:
			t.Errorf("%d events rejected, but only %d were poison: valid events were rejected", tot.Rejected, tot.Poisoned)
		case tot.Errors == 0 && tot.Rejected != tot.Poisoned:
			t.Errorf("%d of %d poison events rejected; the rest were accepted", tot.Rejected, tot.Poisoned)
		}
	} else if tot.Rejected != 0 {
		checkTransientRejections(t, r, tot.Rejected)
	}
	r.mu.Lock()
	recovered, outage := r.recovered, r.outage
	r.mu.Unlock()
	if sc.disturb == nil {
		return
	}
	if recovered.IsZero() {
		t.Error("the disturbance never completed")
		return
	}
	var before, after, during int64
	for _, id := range ids {
		at, ok := uuidTime(id)
		if !ok {
			t.Errorf("acked id %q is not a UUIDv7", id)
			return
		}
		switch {
		case at.After(recovered):
			after++
		case at.Before(r.start.Add(p.at[0])):
			before++
		}
		if !outage[0].IsZero() && at.After(outage[0]) && at.Before(outage[1]) {
			during++
		}
	}
	t.Logf("acked: %d before the disturbance, %d after the system was whole again", before, after)
	if before == 0 || after == 0 {
		t.Errorf("the load did not span the disturbance: %d acked before it, %d after", before, after)
	}
	if !outage[0].IsZero() {
		t.Logf("acked while ClickHouse was down: %d", during)
		if during == 0 {
			t.Error("no event was acked while ClickHouse was down: the broker should hold them")
		}
	}
}

// checkTransientRejections accepts valid events rejected one by one only
// when the service said they were not made durable (a PARTIAL response
// whose other groups were confirmed before the broker went away:
// reason "UNAVAILABLE: …", metric reason="not_durable"), or were in flight
// in another request; that needs the metrics of the whole load, so of
// instances that were never restarted.
func checkTransientRejections(t *testing.T, r *run, rejected int64) {
	t.Helper()
	var transient float64
	for _, in := range r.insts {
		if _, _, alive := in.running(); !alive || in.startCount() != 1 {
			t.Errorf("%d valid events rejected one by one, and %s restarted, so its metrics cannot say why", rejected, in.name)
			return
		}
		m, err := in.metrics("eventgrpc_ingest_events_rejected_total")
		if err != nil {
			t.Errorf("%d valid events rejected; metrics of %s: %v", rejected, in.name, err)
			return
		}
		for series, v := range m {
			t.Logf("%s: %s %v", in.name, series, v)
			if strings.Contains(series, `reason="not_durable"`) || strings.Contains(series, `reason="in_flight"`) {
				transient += v
			}
		}
	}
	// The metric also counts the events of requests refused whole because
	// no group was confirmed, so it is an upper bound here.
	if int64(transient) < rejected {
		t.Errorf("%d valid events rejected one by one, but only %v counted as not durable / in flight (retry hints)", rejected, transient)
		return
	}
	t.Logf("%d valid events rejected one by one as not durable (reason UNAVAILABLE: PARTIAL responses whose other event types were confirmed before the broker went away); not acked, so not counted", rejected)
}

// uuidTime is the millisecond timestamp of a UUIDv7.
func uuidTime(id string) (time.Time, bool) {
	h := strings.ReplaceAll(id, "-", "")
	if len(h) != 32 || h[12] != '7' {
		return time.Time{}, false
	}
	b, err := hex.DecodeString(h[:12])
	if err != nil {
		return time.Time{}, false
	}
	var ms int64
	for _, c := range b {
		ms = ms<<8 | int64(c)
	}
	return time.UnixMilli(ms), true
}

func readIDs(files []string) ([]string, error) {
	var ids []string
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" {
				ids = append(ids, line)
			}
		}
		err = sc.Err()
		fh.Close()
		if err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// loadAcked puts the acked ids into a table of the scenario's database, so
// ClickHouse compares them with what it stored.
func loadAcked(ctx context.Context, db string, files []string) error {
	if _, err := chQuery(ctx, "CREATE TABLE "+db+".chaos_acked (event_id String) ENGINE = Log", nil); err != nil {
		return err
	}
	var readers []io.Reader
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return err
		}
		defer fh.Close()
		readers = append(readers, fh)
	}
	_, err := chQuery(ctx, "INSERT INTO "+db+".chaos_acked (event_id) FORMAT TSV", io.MultiReader(readers...))
	return err
}

// typedTable is a table fed from grpc_event.tx by one event type.
type typedTable struct{ event, table string }

// typedTables lists, from the topology, the queues bound to grpc_event.tx
// by one event type and the tables they write.
func typedTables(topo *topology.Topology) []typedTable {
	var out []typedTable
	for _, q := range topo.Queues {
		for _, b := range q.Bindings {
			if b.Exchange != "grpc_event.tx" || strings.ContainsAny(b.Key, "*#") {
				continue
			}
			for _, tb := range q.Tables {
				out = append(out, typedTable{event: b.Key, table: tb})
			}
		}
	}
	return out
}

// queueNames are the default topology's queues, and those fed by
// grpc_event.tx (the ones this load fills).
func queueNames(topo *topology.Topology) (all, events []string) {
	for _, q := range topo.Queues {
		all = append(all, q.Name)
		for _, b := range q.Bindings {
			if b.Exchange == "grpc_event.tx" {
				events = append(events, q.Name)
				break
			}
		}
	}
	return all, events
}

// measure counts the acked ids stored in `event` FINAL, the extra
// physical rows of `event` (count() − uniqExact(event_id) without FINAL)
// and, per typed table, the acked ids of its type in `event` missing from
// it.
func measure(ctx context.Context, db string, typed []typedTable) (stored, dups int64, missing map[string]int64, err error) {
	stored, err = chInt(ctx, "SELECT uniqExact(event_id) FROM "+db+".chaos_acked WHERE event_id IN (SELECT event_id FROM "+db+".event FINAL)")
	if err != nil {
		return 0, 0, nil, err
	}
	if dups, err = chInt(ctx, "SELECT count() - uniqExact(event_id) FROM "+db+".event"); err != nil {
		return 0, 0, nil, err
	}
	var parts []string
	for _, tt := range typed {
		parts = append(parts, fmt.Sprintf("SELECT '%s' AS t, count() AS n FROM %s.event FINAL WHERE event_name = '%s' AND event_id IN (SELECT event_id FROM %s.chaos_acked) AND event_id NOT IN (SELECT event_id FROM %s.%s)",
			tt.table, db, tt.event, db, db, tt.table))
	}
	missing = map[string]int64{}
	if len(parts) == 0 {
		return stored, dups, missing, nil
	}
	out, err := chQuery(ctx, strings.Join(parts, " UNION ALL "), nil)
	if err != nil {
		return 0, 0, nil, err
	}
	for _, line := range strings.Split(out, "\n") {
		var table string
		var n int64
		if _, err := fmt.Sscanf(line, "%s\t%d", &table, &n); err != nil {
			return 0, 0, nil, fmt.Errorf("typed counts: %q: %w", line, err)
		}
		missing[table] = n
	}
	return stored, dups, missing, nil
}

// waitStored waits until every acked id is in `event` and in its typed
// table, or the counts stop moving for storeStall, or storeDeadline. The
// duplicates it returns are the most seen at any poll: background merges
// collapse them as time goes on, so this is a lower bound of the duplicate
// rows ever written.
func waitStored(t *testing.T, ctx context.Context, db string, acked int64, typed []typedTable) (stored int64, missing map[string]int64, maxDups int64) {
	t.Helper()
	began := time.Now()
	deadline := began.Add(storeDeadline)
	lastChange := began
	var lastKey string
	for {
		stored, dups, missing, err := measure(ctx, db, typed)
		if err != nil {
			t.Fatal(err)
		}
		maxDups = max(maxDups, dups)
		var sumMissing int64
		for _, n := range missing {
			sumMissing += n
		}
		if stored == acked && sumMissing == 0 {
			t.Logf("all %d acked ids stored %.1fs after the load", acked, time.Since(began).Seconds())
			return stored, missing, maxDups
		}
		key := fmt.Sprint(stored, missing)
		if key != lastKey {
			lastKey, lastChange = key, time.Now()
		}
		if time.Now().After(deadline) || time.Since(lastChange) > storeStall {
			t.Logf("stopped waiting after %.1fs: %d of %d acked ids stored, typed tables missing %v",
				time.Since(began).Seconds(), stored, acked, missing)
			return stored, missing, maxDups
		}
		time.Sleep(2 * time.Second)
	}
}

// explainLoss fails the scenario with everything known about the missing
// ids: a sample with their send times on the timeline, whether they reached
// a typed table, the queues, the service logs.
func explainLoss(t *testing.T, ctx context.Context, r *run, acked, stored int64) {
	t.Helper()
	t.Errorf("LOST %d of %d acked events (stored %d)", acked-stored, acked, stored)
	sample, err := chQuery(ctx, "SELECT event_id FROM "+r.db+".chaos_acked WHERE event_id NOT IN (SELECT event_id FROM "+r.db+".event) ORDER BY event_id LIMIT 20", nil)
	if err != nil {
		t.Log(err)
	}
	for _, id := range strings.Fields(sample) {
		at, _ := uuidTime(id)
		t.Logf("lost %s sent at +%.3fs", id, at.Sub(r.start).Seconds())
	}
	if span, err := chQuery(ctx, "SELECT min(event_id), max(event_id) FROM "+r.db+".chaos_acked WHERE event_id NOT IN (SELECT event_id FROM "+r.db+".event)", nil); err == nil {
		f := strings.Fields(span)
		if len(f) == 2 {
			a, _ := uuidTime(f[0])
			b, _ := uuidTime(f[1])
			t.Logf("lost ids were sent between +%.3fs and +%.3fs", a.Sub(r.start).Seconds(), b.Sub(r.start).Seconds())
		}
	}
	if qs, err := listQueues(r.vhost); err == nil {
		names := make([]string, 0, len(qs))
		for n := range qs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if q := qs[n]; q.messages > 0 || q.consumers > 0 {
				t.Logf("queue %s messages=%d consumers=%d", n, q.messages, q.consumers)
			}
		}
	}
	for _, in := range r.insts {
		t.Logf("log of %s (%s), last lines:\n%s", in.name, in.logPath, in.logTail(60))
	}
}

// checkQueues: the event queues drain, and no error queue holds a message.
func checkQueues(t *testing.T, vhost string, eventQueues, queues []string) {
	t.Helper()
	deadline := time.Now().Add(drainDeadline)
	for {
		qs, err := listQueues(vhost)
		if err != nil {
			t.Fatal(err)
		}
		var left []string
		for _, name := range eventQueues {
			if n := qs[name].messages; n > 0 {
				left = append(left, fmt.Sprintf("%s=%d", name, n))
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			if len(left) > 0 {
				t.Errorf("event queues not drained after %v: %s", drainDeadline, strings.Join(left, " "))
			}
			for _, q := range queues {
				if n := qs[q+".error"].messages; n > 0 {
					t.Errorf("error queue %s.error holds %d messages", q, n)
				}
			}
			return
		}
		time.Sleep(2 * time.Second)
	}
}
