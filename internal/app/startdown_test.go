package app_test

import (
	"context"
	"errors"
	"github.com/event-grpc/event-grpc/internal/app/apptest"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/broker/rabbitmq"
	"github.com/event-grpc/event-grpc/internal/sink/sinktest"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// TestDatabasesDownAtStart: ClickHouse and PostgreSQL both unreachable
// when the service starts (each behind a proxy that refuses connections)
// do not stop it: it starts, says it is not ready and why, still accepts
// events into the broker, and once the databases come back it connects,
// creates its tables, becomes ready and lands every accepted event.
func TestDatabasesDownAtStart(t *testing.T) {
	env := productionEnv(t)
	ch := sinktest.NewProxy(t, "127.0.0.1:9000")
	pg := sinktest.NewProxy(t, "127.0.0.1:5432")
	ch.Cut()
	pg.Cut()
	env["CLICKHOUSE_PORT"] = strconv.Itoa(ch.Port())
	env["POSTGRES_PORT"] = strconv.Itoa(pg.Port())
	a := start(t, env) // a failure to start fails here

	ready, why := a.State.Ready()
	if ready || !strings.Contains(why, "analytics store") {
		t.Fatalf("ready=%v (%q) with both databases down, want not ready naming the analytics store", ready, why)
	}
	client := eventgrpcv1.NewEventServiceClient(dial(t, a))
	at := time.Now().Add(-time.Minute)
	req := &eventgrpcv1.Events{
		Header: &eventgrpcv1.Header{UserId: "u-down", SessionId: "s-down"},
		Events: []*eventgrpcv1.Event{
			{Id: "down-launch", Timestamp: ms(at), EventOf: &eventgrpcv1.Event_LaunchEvent{LaunchEvent: &eventgrpcv1.LaunchEvent{LaunchSource: "icon"}}},
			{Id: "down-refer", Timestamp: ms(at), EventOf: &eventgrpcv1.Event_LaunchReferEvent{LaunchReferEvent: &eventgrpcv1.LaunchReferEvent{ReferrerId: "r", ReferralCode: "DOWN1"}}},
		},
	}
	resp, err := client.Dispatch(context.Background(), req)
	if err != nil || resp.Accepted != 2 {
		t.Fatalf("dispatch while the databases are down: %v %v", resp, err)
	}
	time.Sleep(time.Second) // consumers hold their batches meanwhile

	ch.Restart(t)
	pg.Restart(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if ok, _ := a.State.Ready(); ok {
			break
		}
		if time.Now().After(deadline) {
			_, why := a.State.Ready()
			t.Fatalf("not ready 30 s after the databases came back: %s", why)
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitRows(t, a, "SELECT count() FROM event FINAL WHERE user_id = 'u-down'", "2")
	waitPG(t, "SELECT count(*)::text FROM "+env["POSTGRES_EVENT_SCHEMA"]+".referral_event WHERE event_id = 'down-refer'", "1")
}

// TestRefusedTopologyFailsStart: a RabbitMQ that refuses part of the
// topology (a queue exists with other arguments) fails the service's
// Start loudly, naming the refused declaration: New reaches no server,
// Start does, and a *rabbitmq.DeclareError is not a server that is down.
func TestRefusedTopologyFailsStart(t *testing.T) {
	vh := rabbitVHost(t)
	q := topology.Default().Queues[0].Name
	conn, err := amqp.Dial("amqp://guest:guest@127.0.0.1:5672/" + vh)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	// Not durable: the topology's queue is, so declaring it is refused.
	if _, err := ch.QueueDeclare(q, false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	a, _ := apptest.New(t, map[string]string{"BROKER": "rabbitmq", "RABBIT_VHOST": vh})
	defer shutdown(t, a, 10*time.Second)
	err = a.Start(context.Background())
	var de *rabbitmq.DeclareError
	if !errors.As(err, &de) {
		t.Fatalf("Start = %v, want a *rabbitmq.DeclareError", err)
	}
	if !strings.Contains(err.Error(), q) {
		t.Fatalf("Start error does not name the queue %s: %v", q, err)
	}
	if ok, _ := a.State.Ready(); ok {
		t.Fatal("ready after a refused topology")
	}
}
