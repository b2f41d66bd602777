package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) Lookup {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaultsNeedNothing(t *testing.T) {
	c, err := Load(envOf(nil), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if c.GRPC.Addr != "127.0.0.1:8017" || c.HTTP.Addr != "127.0.0.1:8019" || c.Broker.Kind != BrokerJetStream || c.Sink.Kind != SinkDuckDB {
		t.Fatalf("unexpected defaults: %+v", c)
	}
	if c.Topology == nil || len(c.Topology.Queues) < 26 {
		t.Fatalf("default topology not loaded")
	}
}

func TestEveryProblemIsNamed(t *testing.T) {
	_, err := Load(envOf(map[string]string{
		"PORT":                   "x",
		"EVENT_WORKER_POOL_SIZE": "-1",
		"BROKER":                 "kafka",
		"PUBLISH_LINGER":         "soon",
		"LOG_LEVEL":              "loud",
		"TLS_CERT_FILE":          "cert.pem",
	}), t.TempDir())
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, name := range []string{"PORT", "EVENT_WORKER_POOL_SIZE", "BROKER", "PUBLISH_LINGER", "LOG_LEVEL", "TLS_KEY_FILE"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
}

func TestEnvFileAndOverride(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".env.stage"), []byte("GIN_PORT=9100\nPUBLISH_LINGER=7ms\nPORT=9000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(envOf(map[string]string{"ENV": "stage", "PORT": "9001", "AUTH_MODE": "off",
		"BRANCH_WEBHOOK_ENABLED": "false", "WEBENGAGE_WEBHOOK_ENABLED": "false", "VIDOOLY_WEBHOOK_ENABLED": "false",
		"SHOPIFY_WEBHOOK_ENABLED": "false", "GRAPHY_WEBHOOK_ENABLED": "false"}), dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Addr != "127.0.0.1:9100" || c.Pipeline.Linger != 7*time.Millisecond {
		t.Fatalf("file values not read: %+v", c.HTTP)
	}
	if c.GRPC.Addr != "127.0.0.1:9001" {
		t.Fatalf("environment must win over the file, got %s", c.GRPC.Addr)
	}
}

// Opening the operator endpoints to the network needs an admin token.
func TestQueryRemoteNeedsAdminToken(t *testing.T) {
	_, err := Load(envOf(map[string]string{"QUERY_ALLOW_REMOTE": "true"}), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "ADMIN_TOKEN") {
		t.Fatalf("QUERY_ALLOW_REMOTE without ADMIN_TOKEN: %v", err)
	}
	c, err := Load(envOf(map[string]string{"QUERY_ALLOW_REMOTE": "true", "ADMIN_TOKEN": "0123456789abcdef", "ADMIN_HOSTS": "ops.local"}), t.TempDir())
	if err != nil || c.HTTP.AdminToken != "0123456789abcdef" || len(c.HTTP.AdminHosts) != 1 {
		t.Fatalf("%+v %v", c, err)
	}
}

func TestClickHouseTTL(t *testing.T) {
	for _, tc := range []struct {
		v    string
		days int
		bad  bool
	}{{"", 0, false}, {"0", 0, false}, {"90d", 90, false}, {" 7d ", 7, false}, {"90", 0, true}, {"-1d", 0, true}, {"3m", 0, true}, {"0d", 0, true}} {
		c, err := Load(envOf(map[string]string{"CLICKHOUSE_TTL": tc.v}), t.TempDir())
		if tc.bad {
			if err == nil || !strings.Contains(err.Error(), "CLICKHOUSE_TTL") {
				t.Errorf("CLICKHOUSE_TTL=%q: error %v, want one naming the variable", tc.v, err)
			}
			continue
		}
		if err != nil || c.Sink.ClickHouse.TTLDays != tc.days {
			t.Errorf("CLICKHOUSE_TTL=%q: days %v err %v, want %d", tc.v, c, err, tc.days)
		}
	}
}

// With authentication off the ports bind loopback unless LISTEN_ADDR says
// otherwise; with it on, every interface.
func TestListenAddr(t *testing.T) {
	cases := []struct {
		env        map[string]string
		grpc, http string
	}{
		{map[string]string{}, "127.0.0.1:8017", "127.0.0.1:8019"},
		{map[string]string{"AUTH_MODE": "off"}, "127.0.0.1:8017", "127.0.0.1:8019"},
		{map[string]string{"LISTEN_ADDR": "0.0.0.0", "PORT": "9001"}, "0.0.0.0:9001", "0.0.0.0:8019"},
		{map[string]string{"LISTEN_ADDR": "::1"}, "[::1]:8017", "[::1]:8019"},
		{map[string]string{"AUTH_MODE": "apikey", "AUTH_API_KEYS": "web:0123456789abcdef0123"}, ":8017", ":8019"},
	}
	for _, c := range cases {
		cfg, err := Load(envOf(c.env), t.TempDir())
		if err != nil {
			t.Fatalf("%v: %v", c.env, err)
		}
		if cfg.GRPC.Addr != c.grpc || cfg.HTTP.Addr != c.http {
			t.Errorf("%v: listens on %s and %s, want %s and %s", c.env, cfg.GRPC.Addr, cfg.HTTP.Addr, c.grpc, c.http)
		}
	}
	if _, err := Load(envOf(map[string]string{"LISTEN_ADDR": "0.0.0.0:80"}), t.TempDir()); err == nil || !strings.Contains(err.Error(), "LISTEN_ADDR") {
		t.Fatalf("LISTEN_ADDR with a port: %v", err)
	}
}

// Commands reach the server at the address the same variables give it,
// with loopback for an unspecified host.
func TestClientAddrs(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".env.stage"), []byte("GIN_PORT=9100\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		env        map[string]string
		grpc, http string
	}{
		{map[string]string{}, "127.0.0.1:8017", "127.0.0.1:8019"},
		{map[string]string{"PORT": "9001", "GIN_PORT": "9002"}, "127.0.0.1:9001", "127.0.0.1:9002"},
		{map[string]string{"LISTEN_ADDR": "0.0.0.0"}, "127.0.0.1:8017", "127.0.0.1:8019"},
		{map[string]string{"LISTEN_ADDR": "10.1.2.3"}, "10.1.2.3:8017", "10.1.2.3:8019"},
		{map[string]string{"ENV": "stage"}, "127.0.0.1:8017", "127.0.0.1:9100"},
	} {
		g, h := ClientAddrs(envOf(c.env), dir)
		if g != c.grpc || h != c.http {
			t.Errorf("%v: %s %s, want %s %s", c.env, g, h, c.grpc, c.http)
		}
	}
}

// RABBIT_TYPED_EXCHANGES names exchanges of the topology; a misspelt one
// is refused by name, a right one reaches the broker settings.
func TestRabbitTypedExchanges(t *testing.T) {
	c, err := Load(envOf(map[string]string{"BROKER": "rabbitmq", "RABBIT_TYPED_EXCHANGES": "grpc_event.tx, branch_event.tx"}), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Broker.Rabbit.TypedExchanges; len(got) != 2 || got[0] != "grpc_event.tx" || got[1] != "branch_event.tx" {
		t.Fatalf("TypedExchanges = %q", got)
	}
	_, err = Load(envOf(map[string]string{"BROKER": "rabbitmq", "RABBIT_TYPED_EXCHANGES": "grpc_event.txx"}), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), `RABBIT_TYPED_EXCHANGES: "grpc_event.txx" is not an exchange of the topology`) {
		t.Fatalf("a misspelt exchange: %v", err)
	}
}
