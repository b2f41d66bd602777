package tlsconf_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/tlsconf"
	"github.com/event-grpc/event-grpc/internal/tlsconf/tlsconftest"
)

// serve accepts TLS connections with cfg until the test ends.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	lis, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = c.(*tls.Conn).Handshake()
				c.Close()
			}()
		}
	}()
	return lis.Addr().String()
}

func dial(addr string, cfg *tls.Config) (*x509.Certificate, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0], nil
}

// A renewed certificate written over the files is served without a
// restart.
func TestServerReloadsItsCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := tlsconftest.NewCA(t, dir)
	cert, key := ca.Issue(t, dir, "first", "127.0.0.1")
	s := &tlsconf.Server{CertFile: cert, KeyFile: key}
	cfg, err := s.Config()
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, cfg)
	client, err := tlsconf.Client(ca.File, "", "CA")
	if err != nil {
		t.Fatal(err)
	}
	client.ServerName = "127.0.0.1"
	got, err := dial(addr, client)
	if err != nil || got.Subject.CommonName != "first" {
		t.Fatalf("first certificate: %v, %v", got, err)
	}
	sub := t.TempDir()
	c2, k2 := ca.Issue(t, sub, "second", "127.0.0.1")
	for _, f := range [][2]string{{c2, cert}, {k2, key}} {
		b, _ := os.ReadFile(f[0])
		if err := os.WriteFile(f[1], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err = dial(addr, client)
		if err == nil && got.Subject.CommonName == "second" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the renewed certificate is not served: %v, %v", got.Subject.CommonName, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// With a client CA, a client without a certificate signed by it is
// refused; one with such a certificate is served.
func TestServerRequiresClientCertificates(t *testing.T) {
	dir := t.TempDir()
	ca := tlsconftest.NewCA(t, dir)
	cert, key := ca.Issue(t, dir, "server", "127.0.0.1")
	s := &tlsconf.Server{CertFile: cert, KeyFile: key, ClientCAFile: ca.File}
	cfg, err := s.Config()
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, cfg)
	client, _ := tlsconf.Client(ca.File, "127.0.0.1", "CA")
	if c, err := tls.Dial("tcp", addr, client); err == nil {
		// TLS 1.3 reports the refusal on the first read.
		_, err = c.Read(make([]byte, 1))
		c.Close()
		if err == nil {
			t.Fatal("a client without a certificate was served")
		}
	}
	cc, ck := ca.Issue(t, dir, "client", "client")
	pair, err := tls.LoadX509KeyPair(cc, ck)
	if err != nil {
		t.Fatal(err)
	}
	client.Certificates = []tls.Certificate{pair}
	if _, err := dial(addr, client); err != nil {
		t.Fatalf("a client with a certificate was refused: %v", err)
	}
}

func TestConfigNamesTheFileAtFault(t *testing.T) {
	s := &tlsconf.Server{CertFile: "/nonexistent/cert.pem", KeyFile: "/nonexistent/key.pem"}
	if _, err := s.Config(); err == nil || !strings.Contains(err.Error(), "TLS_CERT_FILE") {
		t.Fatalf("Config = %v, want an error naming TLS_CERT_FILE", err)
	}
	if _, err := tlsconf.Client("/nonexistent/ca.pem", "", "RABBIT_TLS_CA_FILE"); err == nil || !strings.Contains(err.Error(), "RABBIT_TLS_CA_FILE") {
		t.Fatalf("Client = %v, want an error naming RABBIT_TLS_CA_FILE", err)
	}
}
