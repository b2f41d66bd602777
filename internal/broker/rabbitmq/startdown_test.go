package rabbitmq

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/broker"
)

// forward listens on addr and pipes every connection to the real server,
// until the test ends.
func forward(t *testing.T, addr, target string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, s)
			mu.Unlock()
			wg.Go(func() { io.Copy(s, c); s.Close() })
			wg.Go(func() { io.Copy(c, s); c.Close() })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}

// A RabbitMQ server that is down when the service starts: New returns a
// broker that is not ready (ConnectInBackground), and it connects, declares
// and publishes once the server answers. On 470972f New failed and the
// service exited.
func TestStartWhileServerDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: the server is "down"
	_, port, _ := net.SplitHostPort(addr)
	var p int
	for _, c := range port {
		p = p*10 + int(c-'0')
	}
	top := testTopology(t, "down")
	b, _ := newBroker(t, top, func(c *Config) {
		c.URL = URL("127.0.0.1", p, "guest", "guest", "/")
		c.ConnectInBackground = true
	})
	if b.Ready() {
		t.Fatal("ready with the server down")
	}
	err = b.Publish(context.Background(), top.Exchanges[0].Name, []broker.Message{{RoutingKey: "down.x", Body: []byte("x")}})
	if err == nil {
		t.Fatal("publish succeeded with the server down")
	}
	forward(t, addr, "127.0.0.1:5672") // the server comes back
	deadline := time.Now().Add(15 * time.Second)
	for !b.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("not ready 15 s after the server came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := b.Publish(context.Background(), top.Exchanges[0].Name, []broker.Message{{RoutingKey: "down.x", Body: []byte("x")}}); err != nil {
		t.Fatalf("publish after the server came back: %v", err)
	}
	if n := newServer(t).depth(top.Queues[0].Name); n != 1 {
		t.Fatalf("queue holds %d, want 1", n)
	}
}
