package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/broker/brokertest"
	"github.com/event-grpc/event-grpc/internal/clustertest"
	"github.com/event-grpc/event-grpc/internal/component/componenttest"
	consumestage "github.com/event-grpc/event-grpc/internal/consume"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// The cluster tests run against the 3-node RabbitMQ cluster of
// scripts/cluster/up.sh (127.0.0.1:5701-5703), which they start when it is
// not up; a cluster that cannot be started fails them.

var clusterURLs = []string{
	URL("127.0.0.1", 5701, "guest", "guest", "/"),
	URL("127.0.0.1", 5702, "guest", "guest", "/"),
	URL("127.0.0.1", 5703, "guest", "guest", "/"),
}

// ensureCluster starts the RabbitMQ cluster, or checks it is up.
func ensureCluster(t testing.TB) {
	t.Helper()
	clustertest.Script(t, "up.sh", "rabbitmq")
}

// clusterConn is a raw connection to any live node.
func clusterConn(t testing.TB) *amqp.Connection {
	t.Helper()
	var err error
	for range 50 {
		for _, u := range clusterURLs {
			var c *amqp.Connection
			if c, err = amqp.Dial(u); err == nil {
				return c
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no node of the cluster answers: %v", err)
	return nil
}

// clusterCleanup deletes top's queues and exchanges from the cluster.
func clusterCleanup(t testing.TB, top *topology.Topology) {
	t.Cleanup(func() {
		conn := clusterConn(t)
		defer conn.Close()
		for _, q := range top.Queues {
			for _, name := range []string{q.Name, q.ErrorQueue()} {
				if ch, err := conn.Channel(); err == nil {
					_, _ = ch.QueueDelete(name, false, false, false)
					_ = ch.Close()
				}
			}
		}
		for _, e := range top.Exchanges {
			if ch, err := conn.Channel(); err == nil {
				_ = ch.ExchangeDelete(e.Name, false, false)
				_ = ch.Close()
			}
		}
	})
}

// queueTypes lists the cluster's queues with their type.
func queueTypes(t testing.TB) map[string]string {
	t.Helper()
	out := clustertest.Script(t, "node.sh", "rabbitmq", "ctl", "1", "list_queues", "name", "type", "--no-table-headers")
	types := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			types[f[0]] = f[1]
		}
	}
	return types
}

// TestClusterConformance runs the shared broker suite against the 3-node
// cluster, with quorum queues (several addresses make them the default) and
// a rolling restart of the nodes as the restart case.
func TestClusterConformance(t *testing.T) {
	ensureCluster(t)
	brokertest.Run(t, brokertest.Harness{
		Consume: consumestage.Run,
		New: func(t *testing.T, top *topology.Topology) broker.Broker {
			t.Helper()
			clusterCleanup(t, top)
			return mustNew(t, Config{URLs: clusterURLs, Topology: top, Heartbeat: 2 * time.Second})
		},
		Restart: func(t *testing.T) {
			t.Helper()
			// One node after another, as an operator upgrades a cluster.
			for _, n := range []string{"1", "2", "3"} {
				clustertest.Script(t, "node.sh", "rabbitmq", "ctl", n, "stop_app")
				clustertest.Script(t, "node.sh", "rabbitmq", "ctl", n, "start_app")
			}
		},
		DeleteQueue: func(t *testing.T, _ broker.Broker, queue string) {
			t.Helper()
			conn := clusterConn(t)
			defer conn.Close()
			ch, err := conn.Channel()
			if err != nil {
				t.Fatalf("channel: %v", err)
			}
			if _, err := ch.QueueDelete(queue, false, false, false); err != nil {
				t.Fatalf("QueueDelete %s: %v", queue, err)
			}
		},
		RestartKeepsClients: true,
		ReportsRedelivered:  true,
		Timeout:             60 * time.Second,
	})
}

// clusterTopology is testTopology's single queue, declared on the cluster.
func clusterTopology(t testing.TB, queueType string) *topology.Topology {
	t.Helper()
	sfx := suffix()
	top := &topology.Topology{
		ErrorExchange: "test.err." + sfx,
		QueueType:     queueType,
		Exchanges: []topology.Exchange{
			{Name: "test.tx." + sfx, Kind: topology.KindTopic},
			{Name: "test.err." + sfx, Kind: topology.KindDirect},
		},
		Queues: []topology.Queue{testQueue("test.q."+sfx, "test.tx."+sfx, "#")},
	}
	clusterCleanup(t, top)
	return top
}

// TestClusterLeaderKilled publishes without pause while the node leading
// the quorum queues is killed with SIGKILL: publishing resumes on the
// other nodes within seconds, and every message the broker confirmed is in
// each queue the exchange routes it to afterwards (two queues here, as an
// event goes to the event queue and to its type's queue). The first
// address names no server, so connecting fails over from the start.
func TestClusterLeaderKilled(t *testing.T) {
	ensureCluster(t)
	top := clusterTopology(t, "")
	top.Queues = append(top.Queues, testQueue(top.Queues[0].Name+".also", top.Exchanges[0].Name, "#"))
	q := top.Queues[0]
	urls := append([]string{URL("127.0.0.1", 5799, "guest", "guest", "/")}, clusterURLs...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := New(Config{URLs: urls, Topology: top, Heartbeat: 2 * time.Second})
	componenttest.Start(t, ctx, b, err)
	types := queueTypes(t)
	for _, q := range top.Queues {
		if got := types[q.Name]; got != topology.QueueQuorum {
			t.Fatalf("queue %s is %q; several addresses should make it quorum", q.Name, got)
		}
		if got := types[q.ErrorQueue()]; got != topology.QueueQuorum {
			t.Fatalf("error queue %s is %q, want quorum", q.ErrorQueue(), got)
		}
	}

	flood := brokertest.StartFlood(b, top.Exchanges[0].Name, func(i int) []broker.Message {
		msgs := make([]broker.Message, 10)
		for j := range msgs {
			msgs[j] = broker.Message{RoutingKey: "k", ContentType: "application/json", Body: fmt.Appendf(nil, `{"n":"%d-%d"}`, i, j)}
		}
		return msgs
	}, 5*time.Second, 50*time.Millisecond)
	time.Sleep(2 * time.Second)
	leader := clustertest.Script(t, "node.sh", "rabbitmq", "leader", q.Name)
	t.Logf("killing rq%s, the leader of %s", leader, q.Name)
	clustertest.Script(t, "node.sh", "rabbitmq", "kill", leader)
	time.Sleep(8 * time.Second)
	res := flood.Stop()
	clustertest.Script(t, "up.sh", "rabbitmq") // the killed node back, rejoining

	if len(res.Acked) == 0 {
		t.Fatal("nothing was confirmed")
	}
	// Every confirmed message is in each queue.
	conn := clusterConn(t)
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range top.Queues {
		seen := map[string]int{}
		for {
			d, ok, err := ch.Get(q.Name, true)
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if !ok {
				break
			}
			seen[string(d.Body)]++
		}
		lost, dup := res.Compare(seen)
		t.Logf("scenario=rabbitmq_leader queue=%s attempts=%d acked=%d in_queue=%d lost=%d broker_duplicates=%d outage_s=%.2f",
			q.Name, res.Calls, len(res.Acked), len(seen), lost, dup, res.Outage.Seconds())
		if lost > 0 {
			t.Errorf("%d confirmed messages are not in queue %s", lost, q.Name)
		}
	}
	if res.Outage > 10*time.Second {
		t.Fatalf("publishing stopped for %s after the leader was killed", res.Outage)
	}
}

// TestClusterHomeNodeDown: a classic queue whose node is down is reported
// as such (404 "home node … is down"), with the remedy, not as a queue
// that exists with other arguments.
func TestClusterHomeNodeDown(t *testing.T) {
	ensureCluster(t)
	top := clusterTopology(t, topology.QueueClassic)
	// Declared through rq3, the classic queue lives on rq3.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := New(Config{URLs: clusterURLs[2:], Topology: top, Heartbeat: 2 * time.Second})
	componenttest.Start(t, ctx, b, err)
	if err := b.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	clustertest.Script(t, "node.sh", "rabbitmq", "kill", "3")
	t.Cleanup(func() { clustertest.Script(t, "up.sh", "rabbitmq") })

	_, err = open(ctx, Config{URLs: clusterURLs[:2], Topology: top, Heartbeat: 2 * time.Second})
	var de *DeclareError
	if !errors.As(err, &de) {
		t.Fatalf("New with the queue's node down: %v, want a DeclareError", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "home node is down") || !strings.Contains(msg, "quorum") || strings.Contains(msg, "different arguments") {
		t.Fatalf("error does not say the home node is down and what to do: %v", err)
	}
}
