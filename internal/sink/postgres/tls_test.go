package postgres

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/sink/sinktest"
	"github.com/event-grpc/event-grpc/internal/tlsconf/tlsconftest"
)

// tlsServer starts a PostgreSQL server of the test's own (Debian's
// binaries, run as the postgres user, on a free port) that accepts only TLS
// connections, with a certificate for "localhost" signed by a CA made for
// the test. It returns the port and the CA file.
func tlsServer(t *testing.T) (port int, caFile string) {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(bins) == 0 {
		t.Fatal("no PostgreSQL server binary under /usr/lib/postgresql (Debian's postgresql package)")
	}
	bin := filepath.Dir(bins[len(bins)-1])
	pgUser, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("user postgres: %v", err)
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	dir, err := os.MkdirTemp("", "pgtls-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ca, cert, key := tlsconftest.Localhost(t, dir, "server")
	data := filepath.Join(dir, "data")
	for _, p := range []string{dir, cert, key} {
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	asPostgres := func(name string, args ...string) *exec.Cmd {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(bin, name)}, args...)...)
	}
	if out, err := asPostgres("initdb", "-D", data, "-A", "trust", "-U", "postgres").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	// TLS connections only: a plaintext one finds no pg_hba entry.
	hba := "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n"
	if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.Chown(filepath.Join(data, "pg_hba.conf"), uid, gid)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port = lis.Addr().(*net.TCPAddr).Port
	lis.Close()
	logf := filepath.Join(dir, "pg.log")
	srv := asPostgres("pg_ctl", "-D", data, "-l", logf, "-w", "-t", "60", "start", "-o",
		fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file=%s -c ssl_key_file=%s", port, dir, cert, key))
	if out, err := srv.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(logf)
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	t.Cleanup(func() {
		_ = asPostgres("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop").Run()
	})
	return port, ca.File
}

// TestTLSVerifyFull: the sink talks to a TLS-only server with
// sslmode=verify-full from POSTGRES_URL, checking the certificate against
// the CA and the name; a plaintext connection, a wrong CA and a wrong
// name are refused.
func TestTLSVerifyFull(t *testing.T) {
	port, ca := tlsServer(t)
	ctx := context.Background()
	open := func(url string) (*Sink, error) {
		s, err := New(ctx, Config{URL: url, Schema: "public", Logger: quiet, MaxConns: 2, MinConns: 1, ConnectTimeout: 5 * time.Second})
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { s.Close(ctx) })
		return s, s.pool.Ping(ctx)
	}
	good := fmt.Sprintf("postgres://postgres@localhost:%d/postgres?sslmode=verify-full&sslrootcert=%s", port, ca)
	s, err := open(good)
	if err != nil {
		t.Fatalf("verify-full with the right CA: %v", err)
	}
	tbl := sinktest.AllTypes(schema.Transactional)
	if err := s.Migrate(ctx, []*schema.Table{tbl}); err != nil {
		t.Fatal(err)
	}
	rows := sinktest.AllTypesRows(t, tbl, 3, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err := s.Write(ctx, sinktest.Batch(t, tbl, rows)); err != nil {
		t.Fatalf("write over TLS: %v", err)
	}
	var ssl bool
	if err := s.pool.QueryRow(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil || !ssl {
		t.Fatalf("the connection is not TLS: %v, %v", ssl, err)
	}

	otherDir := t.TempDir()
	other := tlsconftest.NewCA(t, otherDir)
	for name, url := range map[string]string{
		"plaintext": fmt.Sprintf("postgres://postgres@localhost:%d/postgres?sslmode=disable", port),
		"wrong CA":  fmt.Sprintf("postgres://postgres@localhost:%d/postgres?sslmode=verify-full&sslrootcert=%s", port, other.File),
		// The certificate names localhost, not the address.
		"wrong name": fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=verify-full&sslrootcert=%s", port, ca),
	} {
		if _, err := open(url); err == nil {
			t.Errorf("%s: connected, want a refusal", name)
		} else if name != "plaintext" && !strings.Contains(err.Error(), "certificate") {
			t.Errorf("%s: %v, want a certificate error", name, err)
		}
	}
}
