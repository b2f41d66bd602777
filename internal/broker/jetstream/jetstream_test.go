package jetstream_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/broker/brokertest"
	"github.com/event-grpc/event-grpc/internal/broker/jetstream"
	"github.com/event-grpc/event-grpc/internal/component/componenttest"
	"github.com/event-grpc/event-grpc/internal/consume"
	"github.com/event-grpc/event-grpc/internal/topology"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// externalURL is the NATS server with JetStream that runs on the
// development and CI machine.
const externalURL = "nats://127.0.0.1:4222"

// TestEmbedded runs the conformance suite on the embedded server. A
// restart closes the broker (which stops its server) and makes a new one on
// the same data directory.
func TestEmbedded(t *testing.T) {
	var mu sync.Mutex
	dirs := map[*testing.T]string{}
	brokertest.Run(t, brokertest.Harness{
		Consume: consume.Run,
		New: func(t *testing.T, top *topology.Topology) broker.Broker {
			mu.Lock()
			dir, ok := dirs[t]
			if !ok {
				dir = t.TempDir()
				dirs[t] = dir
			}
			mu.Unlock()
			return newBroker(t, jetstream.Config{DataDir: dir, Topology: top})
		},
		Restart:             func(*testing.T) {}, // Close stopped the server; New starts it again
		DeleteQueue:         deleteQueue,
		RestartKeepsClients: false,
		ReportsRedelivered:  true,
	})
}

// TestExternal runs the conformance suite against the external server,
// each test on a stream of its own that is deleted afterwards. The restart
// case stops and starts the machine's nats-server; the broker made before
// reconnects by itself.
func TestExternal(t *testing.T) {
	streamFor := streamPerTest("BT", deleteStream)
	brokertest.Run(t, brokertest.Harness{
		Consume: consume.Run,
		New: func(t *testing.T, top *topology.Topology) broker.Broker {
			stream := streamFor(t)
			return newBroker(t, jetstream.Config{URL: externalURL, Stream: stream, Topology: top, MaxBytes: 64 << 20})
		},
		Restart:             restartExternal,
		DeleteQueue:         deleteQueue,
		RestartKeepsClients: true,
		ReportsRedelivered:  true,
	})
}

// streamPerTest names a stream for each test of a conformance run (prefix
// and a random suffix), the same for all brokers the test makes; del
// deletes it when the test ends.
func streamPerTest(prefix string, del func(testing.TB, string)) func(*testing.T) string {
	streams := map[*testing.T]string{}
	var mu sync.Mutex
	return func(t *testing.T) string {
		mu.Lock()
		defer mu.Unlock()
		stream, ok := streams[t]
		if !ok {
			stream = fmt.Sprintf("%s_%08x", prefix, rand.Uint32())
			streams[t] = stream
			t.Cleanup(func() { del(t, stream) })
		}
		return stream
	}
}

// deleteQueue deletes the queue's durable consumer under the running
// broker.
func deleteQueue(t *testing.T, b broker.Broker, queue string) {
	t.Helper()
	if err := jetstream.DeleteQueueConsumer(b.(*jetstream.Broker), queue); err != nil {
		t.Fatalf("deleting the consumer of %s: %v", queue, err)
	}
}

func newBroker(t *testing.T, cfg jetstream.Config) *jetstream.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := jetstream.New(cfg)
	componenttest.Start(t, ctx, b, err)
	return b
}

// deleteStream removes a test's streams (one per queue, named
// "<stream>_<queue>") from the external server.
func deleteStream(t testing.TB, stream string) {
	nc, err := nats.Connect(externalURL)
	if err != nil {
		t.Errorf("cleanup: connect: %v", err)
		return
	}
	defer nc.Close()
	js, err := natsjs.New(nc)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var mine []string
	names := js.StreamNames(ctx)
	for name := range names.Name() {
		if strings.HasPrefix(name, stream+"_") {
			mine = append(mine, name)
		}
	}
	if err := names.Err(); err != nil {
		t.Errorf("cleanup: list streams: %v", err)
	}
	deleted := 0
	for _, name := range mine {
		dctx, dcancel := context.WithTimeout(context.Background(), 20*time.Second)
		if err := js.DeleteStream(dctx, name); err != nil {
			t.Errorf("cleanup: delete stream %s: %v", name, err)
		}
		dcancel()
		deleted++
	}
	if deleted == 0 {
		t.Errorf("cleanup: no stream of %s to delete", stream)
	}
}

// restartExternal stops the machine's nats-server and starts it again with
// the command line it runs with, then waits until JetStream answers.
func restartExternal(t *testing.T) {
	t.Helper()
	run := func(args ...string) {
		out, err := exec.Command("start-stop-daemon", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("start-stop-daemon %v: %v\n%s", args, err, out)
		}
	}
	run("--stop", "--oknodo", "--retry", "TERM/15/KILL/5", "--exec", "/usr/sbin/nats-server")
	run("--start", "--oknodo", "--background", "--exec", "/usr/sbin/nats-server", "--",
		"-a", "127.0.0.1", "-p", "4222", "-js", "-sd", "/var/lib/nats-server", "-l", "/var/log/nats-server.log")
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := pingJetStream()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("external nats-server did not come back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func pingJetStream() error {
	nc, err := nats.Connect(externalURL)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := natsjs.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err
}
