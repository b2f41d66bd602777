package sinktest

import (
	"bufio"
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// echo starts a line echo server and returns its address.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadBytes('\n')
					if err != nil {
						return
					}
					if _, err := c.Write(line); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// roundTrip sends one line on c and reads the answer within d.
func roundTrip(c net.Conn, d time.Duration) (string, error) {
	if err := c.SetDeadline(time.Now().Add(d)); err != nil {
		return "", err
	}
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestProxy(t *testing.T) {
	tests := []struct {
		name  string
		act   func(p *Proxy)
		check func(t *testing.T, err error)
	}{
		{"cut", (*Proxy).Cut, func(t *testing.T, err error) {
			if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("after Cut: %v, want the connection closed", err)
			}
		}},
		{"freeze", (*Proxy).Freeze, func(t *testing.T, err error) {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("after Freeze: %v, want a timeout", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := NewProxy(t, echo(t))
			if got := p.Port(); got != p.ln.Addr().(*net.TCPAddr).Port || got == 0 {
				t.Fatalf("Port() = %d, listening on %s", got, p.Addr())
			}
			c := dial(t, p)
			if got, err := roundTrip(c, 5*time.Second); err != nil || got != "ping\n" {
				t.Fatalf("through the proxy: %q, %v", got, err)
			}
			tc.act(p)
			_, err := roundTrip(c, 300*time.Millisecond)
			tc.check(t, err)
		})
	}
}

func TestProxyRestart(t *testing.T) {
	p := NewProxy(t, echo(t))
	addr := p.Addr()
	p.Cut()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("dialled a cut proxy")
	}
	p.Restart(t)
	if p.Addr() != addr {
		t.Fatalf("restarted on %s, was %s", p.Addr(), addr)
	}
	if got, err := roundTrip(dial(t, p), 5*time.Second); err != nil || got != "ping\n" {
		t.Fatalf("after Restart: %q, %v", got, err)
	}
}
