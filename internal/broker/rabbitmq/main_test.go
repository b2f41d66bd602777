package rabbitmq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"

	"github.com/event-grpc/event-grpc/internal/broker/brokertest"
	"github.com/event-grpc/event-grpc/internal/component/componenttest"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// The tests run against the RabbitMQ server at 127.0.0.1:5672 (guest/guest),
// which scripts/ensure-rabbitmq.sh starts. A missing server fails them.

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var testURL = URL("127.0.0.1", 5672, "guest", "guest", "/")

// suffix returns a random name part so tests never share server state.
func suffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// rawConn is a plain connection for setting up and inspecting the server.
func rawConn(t testing.TB) *amqp.Connection {
	t.Helper()
	var conn *amqp.Connection
	var err error
	for range 50 { // the server may be coming back from a restart case
		if conn, err = amqp.Dial(testURL); err == nil {
			return conn
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("connecting to RabbitMQ at %s: %v (run scripts/ensure-rabbitmq.sh)", redact(testURL), err)
	return nil
}

// server gives tests raw access to the broker.
type server struct {
	t    testing.TB
	conn *amqp.Connection
}

func newServer(t testing.TB) *server {
	s := &server{t: t, conn: rawConn(t)}
	t.Cleanup(func() { _ = s.conn.Close() })
	return s
}

func (s *server) channel() *amqp.Channel {
	s.t.Helper()
	if s.conn.IsClosed() {
		s.conn = rawConn(s.t)
	}
	ch, err := s.conn.Channel()
	if err != nil {
		s.t.Fatalf("opening channel: %v", err)
	}
	return ch
}

// depth returns the ready message count of queue.
func (s *server) depth(queue string) int {
	s.t.Helper()
	return s.inspect(queue).Messages
}

// consumers returns the consumer count of queue.
func (s *server) consumers(queue string) int {
	s.t.Helper()
	return s.inspect(queue).Consumers
}

// inspect declares queue passively, reading its counts.
func (s *server) inspect(queue string) amqp.Queue {
	s.t.Helper()
	ch := s.channel()
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		s.t.Fatalf("inspecting queue %s: %v", queue, err)
	}
	return q
}

// get takes one message off queue (acked), failing when there is none
// within the timeout.
func (s *server) get(queue string) amqp.Delivery {
	s.t.Helper()
	ch := s.channel()
	defer ch.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, ok, err := ch.Get(queue, true)
		if err != nil {
			s.t.Fatalf("get from %s: %v", queue, err)
		}
		if ok {
			return d
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no message in %s", queue)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// deleteAll removes the exchanges and queues of top (and error queues).
func (s *server) deleteAll(top *topology.Topology) {
	conn := rawConn(s.t)
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		s.t.Errorf("cleanup: %v", err)
		return
	}
	defer ch.Close()
	for _, q := range top.Queues {
		for _, name := range []string{q.Name, q.ErrorQueue()} {
			if _, err := ch.QueueDelete(name, false, false, false); err != nil {
				s.t.Errorf("cleanup: deleting queue %s: %v", name, err)
				return
			}
		}
	}
	for _, e := range top.Exchanges {
		if err := ch.ExchangeDelete(e.Name, false, false); err != nil {
			s.t.Errorf("cleanup: deleting exchange %s: %v", e.Name, err)
			return
		}
	}
}

// testTopology is one topic exchange, an error exchange and the named
// queues, each bound to the exchange with key "<queue>.#", all with a
// random suffix and deleted after the test.
func testTopology(t testing.TB, queues ...string) *topology.Topology {
	t.Helper()
	sfx := suffix()
	top := &topology.Topology{
		ErrorExchange: "test.err." + sfx,
		Exchanges: []topology.Exchange{
			{Name: "test.tx." + sfx, Kind: topology.KindTopic},
			{Name: "test.err." + sfx, Kind: topology.KindDirect},
		},
	}
	for _, q := range queues {
		top.Queues = append(top.Queues, testQueue("test."+q+"."+sfx, "test.tx."+sfx, q+".#"))
	}
	s := newServer(t)
	t.Cleanup(func() { s.deleteAll(top) })
	return top
}

// testQueue is a queue of the test topologies, bound to exchange by key.
func testQueue(name, exchange, key string) topology.Queue {
	q := brokertest.QuickQueue(name, topology.Binding{Exchange: exchange, Key: key})
	q.Prefetch, q.Batch.MaxMessages = 200, 100
	return q
}

// setup is how most tests start: the topology of testTopology with queue
// "a", a broker on it (tweak adjusts its config) with its registry, and raw
// access to the server.
func setup(t testing.TB, tweak ...func(*Config)) (*topology.Topology, *Broker, *prometheus.Registry, *server) {
	t.Helper()
	top := testTopology(t, "a")
	b, reg := newBroker(t, top, tweak...)
	return top, b, reg, newServer(t)
}

// mustNew makes a Broker with cfg, failing the test if New fails.
func mustNew(t testing.TB, cfg Config) *Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := New(cfg)
	componenttest.Start(t, ctx, b, err)
	return b
}

// newBroker connects a Broker for top and closes it after the test.
func newBroker(t testing.TB, top *topology.Topology, tweak ...func(*Config)) (*Broker, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg := Config{URL: testURL, Topology: top, Registerer: reg, Heartbeat: 2 * time.Second}
	for _, f := range tweak {
		f(&cfg)
	}
	b := mustNew(t, cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b, reg
}

// open builds a Broker and starts it, as the service does; a Start that
// fails closes it.
func open(ctx context.Context, cfg Config) (*Broker, error) {
	b, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if err := b.Start(ctx); err != nil {
		_ = b.Close(context.Background())
		return nil, err
	}
	return b, nil
}

// metricValue sums the samples of a metric family.
func metricValue(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return sum
}

// eventually polls cond until it holds or the timeout passes.
var eventually = brokertest.Eventually

// restartMu serialises server restarts between tests.
var restartMu sync.Mutex

// rabbitmqctl runs a rabbitmqctl command, failing the test on error.
func rabbitmqctl(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command("rabbitmqctl", append([]string{"-q"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("rabbitmqctl %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// stopApp stops the RabbitMQ application (the node stays up), so every
// connection is closed and the port stops answering.
func stopApp(t testing.TB) {
	t.Helper()
	rabbitmqctl(t, "stop_app")
}

// startApp starts the application again and waits until the port answers.
func startApp(t testing.TB) {
	t.Helper()
	rabbitmqctl(t, "start_app")
	rabbitmqctl(t, "await_startup")
	eventually(t, 60*time.Second, "RabbitMQ to answer on 127.0.0.1:5672", func() bool {
		c, err := net.DialTimeout("tcp", "127.0.0.1:5672", time.Second)
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	})
}

// restart is stop_app, a pause, start_app; it makes sure the app is
// started again even if the test fails in between.
func restart(t testing.TB, pause time.Duration, during func()) {
	t.Helper()
	restartMu.Lock()
	defer restartMu.Unlock()
	stopApp(t)
	started := false
	defer func() {
		if !started {
			startApp(t)
		}
	}()
	if during != nil {
		during()
	}
	time.Sleep(pause)
	startApp(t)
	started = true
}

var errTransient = errors.New("sink down")
