package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/broker/brokertest"
	"github.com/event-grpc/event-grpc/internal/broker/jetstream"
	"github.com/event-grpc/event-grpc/internal/clustertest"
	"github.com/event-grpc/event-grpc/internal/consume"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// The cluster tests run against the 3-node NATS JetStream cluster of
// scripts/cluster/up.sh (127.0.0.1:4231-4233), which they start when it is
// not up; a cluster that cannot be started fails them.

const clusterURL = "nats://127.0.0.1:4231,nats://127.0.0.1:4232,nats://127.0.0.1:4233"

// clusterJS is a plain JetStream client of the cluster.
func clusterJS(t testing.TB) natsjs.JetStream {
	t.Helper()
	nc, err := nats.Connect(clusterURL, nats.MaxReconnects(-1))
	if err != nil {
		t.Fatalf("connecting to the NATS cluster: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// deleteClusterStreams removes the streams whose names start with prefix.
func deleteClusterStreams(t testing.TB, prefix string) {
	js := clusterJS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	names := js.StreamNames(ctx)
	var del []string
	for n := range names.Name() {
		if strings.HasPrefix(n, prefix+"_") {
			del = append(del, n)
		}
	}
	for _, n := range del {
		_ = js.DeleteStream(ctx, n)
	}
}

// TestClusterConformance runs the shared broker suite against the 3-node
// cluster with streams of three replicas; the restart case restarts the
// nodes one after another.
func TestClusterConformance(t *testing.T) {
	clustertest.Script(t, "up.sh", "nats")
	streamFor := streamPerTest("BTC", deleteClusterStreams)
	brokertest.Run(t, brokertest.Harness{
		Consume: consume.Run,
		New: func(t *testing.T, top *topology.Topology) broker.Broker {
			stream := streamFor(t)
			return newBroker(t, jetstream.Config{URL: clusterURL, Replicas: 3, Stream: stream, Topology: top, MaxBytes: 64 << 20})
		},
		Restart: func(t *testing.T) {
			for _, n := range []string{"1", "2", "3"} {
				clustertest.Script(t, "node.sh", "nats", "stop", n)
				clustertest.Script(t, "up.sh", "nats")
			}
		},
		DeleteQueue:         deleteQueue,
		RestartKeepsClients: true,
		ReportsRedelivered:  true,
		Timeout:             60 * time.Second,
	})
}

// TestClusterStreamLeaderKilled publishes without pause while the node
// leading the queue's R3 stream is killed with SIGKILL: Publish waits out
// the leader election (it retries for up to PublishRetryFor, de-duplicated
// by the server) instead of failing, and every acknowledged message is in
// the stream afterwards, once.
func TestClusterStreamLeaderKilled(t *testing.T) {
	clustertest.Script(t, "up.sh", "nats")
	stream := fmt.Sprintf("BTK_%08x", rand.Uint32())
	t.Cleanup(func() { deleteClusterStreams(t, stream) })
	top := testTopology(t, nil)
	b := newBroker(t, jetstream.Config{URL: clusterURL, Replicas: 3, Stream: stream, Topology: top, MaxBytes: 64 << 20})
	defer closeBroker(t, b)
	js := clusterJS(t)
	streamName := stream + "_clicks"

	flood := brokertest.StartFlood(b, "ev.tx", func(i int) []broker.Message {
		msgs := make([]broker.Message, 10)
		for j := range msgs {
			id := fmt.Sprintf("m-%d-%d", i, j)
			msgs[j] = broker.Message{ID: id, RoutingKey: "Click", Body: []byte(id)}
		}
		return msgs
	}, 30*time.Second, 0)
	time.Sleep(2 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	info, err := js.Stream(ctx, streamName)
	cancel()
	if err != nil {
		t.Fatalf("stream %s: %v", streamName, err)
	}
	si, err := info.Info(context.Background())
	if err != nil || si.Cluster == nil || si.Cluster.Leader == "" {
		t.Fatalf("stream %s has no leader: %v", streamName, err)
	}
	if got := si.Config.Replicas; got != 3 {
		t.Fatalf("stream %s has %d replicas, want 3", streamName, got)
	}
	leader := strings.TrimPrefix(si.Cluster.Leader, "n")
	t.Logf("killing n%s, the leader of %s", leader, streamName)
	clustertest.Script(t, "node.sh", "nats", "kill", leader)
	time.Sleep(14 * time.Second)
	res := flood.Stop()
	clustertest.Script(t, "up.sh", "nats")

	// Read the stream back.
	ctx, cancel = context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, streamName)
	if err != nil {
		t.Fatalf("stream %s: %v", streamName, err)
	}
	si, err = st.Info(ctx)
	if err != nil {
		t.Fatalf("stream %s: %v", streamName, err)
	}
	seen := map[string]int{}
	for seq := si.State.FirstSeq; seq <= si.State.LastSeq && si.State.Msgs > 0; seq++ {
		// The restarted node may still be rejoining: a read answered
		// "temporarily unavailable" (503) is asked again until ctx ends.
		m, err := st.GetMsg(ctx, seq)
		for err != nil && !errors.Is(err, natsjs.ErrMsgNotFound) && ctx.Err() == nil {
			time.Sleep(200 * time.Millisecond)
			m, err = st.GetMsg(ctx, seq)
		}
		if errors.Is(err, natsjs.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("message %d of %s: %v", seq, streamName, err)
		}
		seen[string(m.Data)]++
	}
	lost, dup := res.Compare(seen)
	t.Logf("scenario=nats_leader acked=%d stored=%d lost=%d duplicates=%d failed_publishes=%d outage_s=%.2f",
		len(res.Acked), len(seen), lost, dup, res.Failures, res.Outage.Seconds())
	if len(res.Acked) == 0 {
		t.Fatal("nothing was acknowledged")
	}
	if lost > 0 || dup > 0 {
		t.Fatalf("lost %d acknowledged messages, %d stored twice", lost, dup)
	}
	if res.Failures > 0 {
		t.Fatalf("%d publishes failed: the leader election outlasted the publish retry", res.Failures)
	}
}
