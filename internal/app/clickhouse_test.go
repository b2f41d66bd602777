package app_test

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
)

// productionEnv is BROKER=rabbitmq SINK=clickhouse with PostgreSQL, on a
// fresh ClickHouse database and PostgreSQL schema of the test's own.
func productionEnv(t *testing.T) map[string]string {
	t.Helper()
	name := fmt.Sprintf("egtest_%d", time.Now().UnixNano())
	t.Cleanup(func() {
		exec.Command("clickhouse-client", "-q", "DROP DATABASE IF EXISTS "+name).Run()
		exec.Command("psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-c", "DROP SCHEMA IF EXISTS "+name+" CASCADE").Run()
	})
	return map[string]string{
		"BROKER": "rabbitmq", "RABBIT_VHOST": rabbitVHost(t), "SINK": "clickhouse", "CLICKHOUSE_DB_NAMES": name,
		"POSTGRES_HOST": "127.0.0.1", "POSTGRES_USER": "postgres", "POSTGRES_DB": "test", "POSTGRES_EVENT_SCHEMA": name,
	}
}

func pgQuery(t *testing.T, sql string) string {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), "postgres://postgres@127.0.0.1:5432/test")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var out string
	if err := conn.QueryRow(context.Background(), sql).Scan(&out); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

func waitPG(t *testing.T, sql, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		if got = pgQuery(t, sql); got == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s = %s, want %s", sql, got, want)
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// TestTypedEventsReachClickHouseAndPostgres: typed events sent over gRPC
// land in their ClickHouse tables with typed values; a launch refer lands
// in ClickHouse and PostgreSQL; sending the same batch twice leaves one row
// per event_id in FINAL and in PostgreSQL.
func TestTypedEventsReachClickHouseAndPostgres(t *testing.T) {
	env := productionEnv(t)
	db, schemaName := env["CLICKHOUSE_DB_NAMES"], env["POSTGRES_EVENT_SCHEMA"]
	a := start(t, env)
	client := eventgrpcv1.NewEventServiceClient(dial(t, a))
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	req := &eventgrpcv1.Events{
		Header: &eventgrpcv1.Header{UserId: "u-ch", SessionId: "s-ch", ClientId: "ios", Os: "ios"},
		Events: []*eventgrpcv1.Event{
			{Id: "ch-click", Timestamp: ms(at), EventOf: &eventgrpcv1.Event_ClickEvent{ClickEvent: &eventgrpcv1.ClickEvent{ElementId: "buy-now", ElementType: "button", Screen: "pdp", X: 12.5, Y: 300}}},
			{Id: "ch-init", Timestamp: ms(at), EventOf: &eventgrpcv1.Event_AppInitEvent{AppInitEvent: &eventgrpcv1.AppInitEvent{InstallSource: "play_store", FirstLaunch: true, LoadTimeMs: 840, AppVersion: "5.2.0"}}},
			{Id: "ch-refer", Timestamp: ms(at), EventOf: &eventgrpcv1.Event_LaunchReferEvent{LaunchReferEvent: &eventgrpcv1.LaunchReferEvent{ReferrerId: "ref-1", ReferralCode: "FRIEND10", Campaign: "winter"}}},
			{Id: "ch-ab", Timestamp: ms(at), EventOf: &eventgrpcv1.Event_AbAssignmentEvent{AbAssignmentEvent: &eventgrpcv1.AbAssignmentEvent{ExperimentId: "exp-7", Variant: "B", Bucket: 42}}},
			{Id: "ch-err", Timestamp: ms(at), EventOf: &eventgrpcv1.Event_ErrorEvent{ErrorEvent: &eventgrpcv1.ErrorEvent{ErrorCode: "E500", ErrorMessage: "payment gateway timeout", Fatal: true}}},
		},
	}
	for range 2 { // the second time is a client retry: no second row
		resp, err := client.Dispatch(context.Background(), req)
		if err != nil || resp.Accepted != 5 {
			t.Fatalf("dispatch: %v %v", resp, err)
		}
	}
	checks := []struct{ sql, want string }{
		{"SELECT count() FROM event FINAL WHERE user_id = 'u-ch'", "5"},
		{"SELECT concat(element_id, '|', element_type, '|', screen, '|', toString(x), '|', toString(y), '|', session_id, '|', toString(event_timestamp = toDateTime(" + strconv.FormatInt(at.Unix(), 10) + "))) FROM click_event FINAL WHERE event_id = 'ch-click'", "buy-now|button|pdp|12.5|300|s-ch|1"},
		{"SELECT concat(install_source, '|', toString(first_launch), '|', toString(load_time_ms), '|', init_app_version) FROM app_init_event FINAL WHERE event_id = 'ch-init'", "play_store|1|840|5.2.0"},
		{"SELECT concat(referrer_id, '|', referral_code, '|', campaign) FROM launch_refer_event FINAL WHERE event_id = 'ch-refer'", "ref-1|FRIEND10|winter"},
		{"SELECT concat(experiment_id, '|', variant, '|', toString(bucket)) FROM ab_assignment FINAL WHERE event_id = 'ch-ab'", "exp-7|B|42"},
		{"SELECT concat(error_code, '|', error_message, '|', toString(fatal)) FROM error_event FINAL WHERE event_id = 'ch-err'", "E500|payment gateway timeout|1"},
	}
	for _, c := range checks {
		waitRows(t, a, c.sql, c.want)
	}
	// Raw (not FINAL) rows may still hold the duplicate until a merge; FINAL
	// and the PostgreSQL key make it invisible.
	waitPG(t, fmt.Sprintf("SELECT count(*)::text || '|' || max(referral_code) FROM %s.referral_event WHERE event_id = 'ch-refer'", schemaName), "1|FRIEND10")
	if db == "" {
		t.Fatal("no database")
	}
}

// TestJSONPublishedByHandReachesTraceLog: a service publishing JSON to
// identity.dx with key trace_log fills trace_log; a message missing a
// required field ends in trace_log.error with the reason headers.
func TestJSONPublishedByHandReachesTraceLog(t *testing.T) {
	env := productionEnv(t)
	a := start(t, env)
	conn, err := amqp.Dial("amqp://guest:guest@127.0.0.1:5672/" + env["RABBIT_VHOST"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	good := `{"id":"req-77","timestamp":"2026-11-27T09:30:00Z","service_name":"identity","host_name":"id-1","method":"POST","uri":"/v1/login","status_code":201,"time_taken_ms":37,"user_id":"u-9","unknown_field":"ignored"}`
	for _, body := range []string{good, `{"service_name":"identity"}`} {
		dc, err := ch.PublishWithDeferredConfirmWithContext(context.Background(), "identity.dx", "trace_log", true, false,
			amqp.Publishing{ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: []byte(body)})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := dc.WaitContext(context.Background()); !ok || err != nil {
			t.Fatalf("publish not confirmed: %v", err)
		}
	}
	waitRows(t, a, "SELECT concat(service_name, '|', host_name, '|', uri, '|', toString(status_code), '|', toString(time_taken_ms), '|', user_id) FROM trace_log FINAL WHERE id = 'req-77'",
		"identity|id-1|/v1/login|201|37|u-9")
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := exec.Command("rabbitmqctl", "list_queues", "-p", env["RABBIT_VHOST"], "name", "messages").CombinedOutput()
		if strings.Contains(string(out), "trace_log.error\t") && !strings.Contains(string(out), "trace_log.error\t0") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the invalid message never reached trace_log.error:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	d, ok, err := ch.Get("trace_log.error", false)
	if err != nil || !ok {
		t.Fatalf("get dead letter: %v %v", ok, err)
	}
	d.Ack(false)
	for _, h := range []string{"x-error-reason", "x-original-exchange", "x-original-routing-key", "x-retry-count"} {
		if _, ok := d.Headers[h]; !ok {
			t.Errorf("dead letter lacks %s: %v", h, d.Headers)
		}
	}
	if r := fmt.Sprint(d.Headers["x-error-reason"]); !strings.Contains(r, "required") {
		t.Errorf("x-error-reason %q does not name the missing field", r)
	}
	if fmt.Sprint(d.Headers["x-retry-count"]) != "2" {
		t.Errorf("x-retry-count = %v, want the default 2 attempts spent", d.Headers["x-retry-count"])
	}
}

// TestClickHouseOutageUnderLoad: ClickHouse stopped for 30 s during a
// steady load and started again — nothing goes to an error queue, and every
// event acknowledged to a client is stored.
func TestClickHouseOutageUnderLoad(t *testing.T) {
	env := productionEnv(t)
	a := start(t, env)
	before := deadLetters(t, env["RABBIT_VHOST"])
	client := eventgrpcv1.NewEventServiceClient(dial(t, a))
	run := fmt.Sprintf("cho%d", time.Now().UnixNano())
	acked := 0
	stopAt, restartAt, endAt := time.Now().Add(3*time.Second), time.Now().Add(33*time.Second), time.Now().Add(38*time.Second)
	stopped, restarted := false, false
	t.Cleanup(func() { exec.Command("../../scripts/ensure-clickhouse.sh").Run() })
	for n := 0; time.Now().Before(endAt); n++ {
		if !stopped && time.Now().After(stopAt) {
			if out, err := exec.Command("pkill", "-x", "clickhouse-serv").CombinedOutput(); err != nil {
				t.Fatalf("stop ClickHouse: %v %s", err, out)
			}
			stopped = true
		}
		if stopped && !restarted && time.Now().After(restartAt) {
			if out, err := exec.Command("../../scripts/ensure-clickhouse.sh").CombinedOutput(); err != nil {
				t.Fatalf("start ClickHouse: %v %s", err, out)
			}
			restarted = true
		}
		req := &eventgrpcv1.Events{Header: &eventgrpcv1.Header{UserId: run}}
		for i := range 20 {
			req.Events = append(req.Events, &eventgrpcv1.Event{Id: fmt.Sprintf("%s-%d-%d", run, n, i),
				EventOf: &eventgrpcv1.Event_ClickEvent{ClickEvent: &eventgrpcv1.ClickEvent{ElementId: "e"}}})
		}
		resp, err := client.Dispatch(context.Background(), req)
		if err != nil {
			t.Fatalf("dispatch during a sink outage must still be accepted (the broker holds it): %v", err)
		}
		acked += int(resp.Accepted)
		time.Sleep(20 * time.Millisecond)
	}
	if !restarted {
		t.Fatal("the outage did not happen")
	}
	want := strconv.Itoa(acked)
	deadline := time.Now().Add(120 * time.Second)
	for {
		rows := query(t, a, "SELECT count(), uniqExact(event_id) FROM event FINAL WHERE user_id = '"+run+"'")
		if len(rows) == 1 && rows[0][0] == want && rows[0][1] == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("event rows %v, want %s acknowledged events stored once", rows, want)
		}
		time.Sleep(500 * time.Millisecond)
	}
	waitRows(t, a, "SELECT count() FROM click_event FINAL WHERE user_id = '"+run+"'", want)
	after := deadLetters(t, env["RABBIT_VHOST"])
	for q, n := range after {
		if n != before[q] {
			t.Errorf("%s went from %d to %d dead letters during a sink outage", q, before[q], n)
		}
	}
	t.Logf("acked=%d stored=%s", acked, want)
}

// deadLetters counts the messages of every error queue in RabbitMQ.
func deadLetters(t *testing.T, vhost string) map[string]int {
	t.Helper()
	out, err := exec.Command("rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "messages").CombinedOutput()
	if err != nil {
		t.Fatalf("list_queues: %v %s", err, out)
	}
	m := map[string]int{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && strings.HasSuffix(f[0], ".error") {
			n, _ := strconv.Atoi(f[1])
			m[f[0]] = n
		}
	}
	return m
}

// rabbitVHost creates a RabbitMQ virtual host of the test's own, so its
// queues (the default topology's names) are not shared with any other test
// or process; it is deleted when the test ends.
func rabbitVHost(t *testing.T) string {
	t.Helper()
	vh := fmt.Sprintf("egtest_%d", time.Now().UnixNano())
	rabbitctl(t, "add_vhost", vh)
	rabbitctl(t, "set_permissions", "-p", vh, "guest", ".*", ".*", ".*")
	t.Cleanup(func() { exec.Command("rabbitmqctl", "delete_vhost", vh).Run() })
	return vh
}
