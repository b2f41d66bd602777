package consume

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/broker/rabbitmq"
	"github.com/event-grpc/event-grpc/internal/component/componenttest"
	"github.com/event-grpc/event-grpc/internal/event"
	"github.com/event-grpc/event-grpc/internal/landing"
	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/sink"
	"github.com/event-grpc/event-grpc/internal/sink/clickhouse"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// TestCrashAfterInsertBeforeAck: a consumer that dies after its rows were
// committed but before the ack gets the batch redelivered; the second
// write makes no second visible row (ClickHouse FINAL), on the real
// RabbitMQ and ClickHouse.
func TestCrashAfterInsertBeforeAck(t *testing.T) {
	if out, err := exec.Command("../../scripts/ensure-clickhouse.sh").CombinedOutput(); err != nil {
		t.Fatalf("ClickHouse is needed: %v\n%s", err, out)
	}
	ctx := context.Background()
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	db := "egcrash_" + suffix
	t.Cleanup(func() { exec.Command("clickhouse-client", "-q", "DROP DATABASE IF EXISTS "+db).Run() })
	ch, err := clickhouse.New(ctx, clickhouse.Config{Databases: []string{db}})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close(ctx)
	cat := schema.Default()
	if err := ch.Migrate(ctx, []*schema.Table{cat["event"]}); err != nil {
		t.Fatal(err)
	}

	top, err := topology.Parse([]byte(fmt.Sprintf(`
error_exchange: crash_err_%[1]s
exchanges:
  - {name: crash_err_%[1]s, kind: direct}
  - {name: crash_ev_%[1]s, kind: topic}
queues:
  - name: crash_q_%[1]s
    bindings: [{exchange: crash_ev_%[1]s, key: "#"}]
    handler: events
    tables: [event]
    batch: {max_messages: 10, max_wait: 50ms}
`, suffix)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := rabbitmq.New(rabbitmq.Config{URL: "amqp://guest:guest@127.0.0.1:5672/", Topology: top})
	componenttest.Start(t, ctx, b, err)
	defer func() {
		b.Close(ctx)
		for _, q := range []string{top.Queues[0].Name, top.Queues[0].ErrorQueue()} {
			exec.Command("rabbitmqctl", "delete_queue", q).Run()
		}
	}()
	q := top.Queues[0]
	h, err := landing.New(q, cat, func(*schema.Table) sink.Sink { return ch }, nil, must(landing.NewMetrics(nil)), nil)
	if err != nil {
		t.Fatal(err)
	}

	var evs []*eventgrpcv1.Event
	for i := range 20 {
		evs = append(evs, &eventgrpcv1.Event{Id: fmt.Sprintf("crash-%d", i), Timestamp: "1795000000000",
			EventOf: &eventgrpcv1.Event_PageOpenedEvent{PageOpenedEvent: &eventgrpcv1.PageOpenedEvent{}}})
	}
	body, err := event.AppendEvents(nil, &eventgrpcv1.Events{Header: &eventgrpcv1.Header{UserId: "crash"}, Events: evs})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, top.Exchanges[1].Name, []broker.Message{{RoutingKey: "PageOpenedEvent", Body: body}}); err != nil {
		t.Fatal(err)
	}

	// First consumer: commits the rows, then "crashes" before the ack.
	cctx, crash := context.WithCancel(ctx)
	var first atomic.Int32
	errCrashed := errors.New("crashed after insert")
	done := make(chan error, 1)
	go func() {
		done <- Run(cctx, b, q, func(ctx context.Context, batch []broker.Delivery) error {
			if err := h.Handle(ctx, batch); err != nil {
				return err
			}
			first.Add(int32(len(batch)))
			crash()
			return errCrashed // not acked: RabbitMQ redelivers
		})
	}()
	<-cctx.Done()
	<-done
	if first.Load() == 0 {
		t.Fatal("the first consumer never wrote")
	}

	// Second consumer gets the redelivery and writes it again.
	c2, stop := context.WithCancel(ctx)
	var redelivered atomic.Bool
	go Run(c2, b, q, func(ctx context.Context, batch []broker.Delivery) error {
		for _, d := range batch {
			if d.Redelivered {
				redelivered.Store(true)
			}
		}
		return h.Handle(ctx, batch)
	})
	defer stop()
	deadline := time.Now().Add(20 * time.Second)
	for !redelivered.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the batch was not redelivered")
		}
		time.Sleep(50 * time.Millisecond)
	}
	count := func(sql string) string {
		_, rows, err := ch.Query(ctx, sql, 10)
		if err != nil {
			t.Fatal(err)
		}
		return rows[0][0]
	}
	for time.Now().Before(deadline) && count("SELECT count() FROM event WHERE user_id = 'crash'") != "40" {
		time.Sleep(50 * time.Millisecond)
	}
	if got := count("SELECT count() FROM event WHERE user_id = 'crash'"); got != "40" {
		t.Fatalf("raw rows = %s, want 40 (both writes happened)", got)
	}
	if got := count("SELECT count() FROM event FINAL WHERE user_id = 'crash'"); got != "20" {
		t.Fatalf("FINAL rows = %s, want 20: one per event_id", got)
	}
}
