// Package tlsconf builds the TLS configurations of the service: the
// server side of its own ports (a certificate reloaded from its files
// when they change, optional client certificates) and the client side of
// its connections to brokers and databases (a CA file, a server name).
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Server is the TLS configuration of a listening port: the certificate
// and key in CertFile and KeyFile, read again when either file changes
// (checked at most once a second, on a handshake), so a renewed
// certificate is served without a restart; with ClientCAFile, clients
// must present a certificate signed by one of its CAs.
type Server struct {
	CertFile, KeyFile string
	ClientCAFile      string

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string // the files' sizes and times when cert was read
	checked time.Time
}

// Config loads the certificate (an error names the file at fault) and
// returns the tls.Config to serve with. NextProtos offers HTTP/2 and
// HTTP/1.1 (gRPC needs h2).
func (s *Server) Config() (*tls.Config, error) {
	if s.CertFile == "" || s.KeyFile == "" {
		return nil, errors.New("tls: TLS_CERT_FILE and TLS_KEY_FILE are both needed")
	}
	if _, err := s.load(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.current() },
		NextProtos:     []string{"h2", "http/1.1"},
	}
	if s.ClientCAFile != "" {
		pool, err := loadPool(s.ClientCAFile, "TLS_CLIENT_CA_FILE")
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// current returns the certificate, reloading it when its files changed.
// A reload that fails keeps serving the previous certificate.
func (s *Server) current() (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.checked) < time.Second && s.cert != nil {
		return s.cert, nil
	}
	s.checked = time.Now()
	if st := stamp(s.CertFile, s.KeyFile); st != s.stamp || s.cert == nil {
		if c, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile); err == nil {
			s.cert, s.stamp = &c, st
		} else if s.cert == nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
	}
	return s.cert, nil
}

func (s *Server) load() (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: TLS_CERT_FILE %s / TLS_KEY_FILE %s: %w", s.CertFile, s.KeyFile, err)
	}
	s.mu.Lock()
	s.cert, s.stamp, s.checked = &c, stamp(s.CertFile, s.KeyFile), time.Now()
	s.mu.Unlock()
	return &c, nil
}

// stamp identifies the files' contents by size and modification time.
func stamp(files ...string) string {
	var b []byte
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			b = fmt.Appendf(b, "%d/%d;", fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return string(b)
}

// Client is the TLS configuration of a connection to a server that
// presents a certificate signed by a CA in caFile (the system's roots when
// empty), checked against serverName (the dialled host when empty). env
// names the variable of caFile in errors.
func Client(caFile, serverName, env string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caFile != "" {
		pool, err := loadPool(caFile, env)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

func loadPool(file, env string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", env, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: %s holds no PEM certificate", env, file)
	}
	return pool, nil
}
