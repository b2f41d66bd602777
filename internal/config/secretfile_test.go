package config

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func writeSecret(t *testing.T, dir, name, v string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Every secret is read from NAME_FILE when NAME is unset; one trailing
// newline is dropped.
func TestSecretFromFile(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{
		"ADMIN_TOKEN_FILE":            writeSecret(t, dir, "admin", "0123456789abcdef-admin\n"),
		"RABBIT_PASSWORD_FILE":        writeSecret(t, dir, "rabbit", "rabbit-pw\r\n"),
		"CLICKHOUSE_PASSWORD_FILE":    writeSecret(t, dir, "ch", "ch pw with spaces"),
		"POSTGRES_PASSWORD_FILE":      writeSecret(t, dir, "pg", "pg-pw\n"),
		"REDIS_CLUSTER_PASSWORD_FILE": writeSecret(t, dir, "redis", "redis-pw\n"),
		"WEBENGAGE_API_KEY_FILE":      writeSecret(t, dir, "we", "we-key\n"),
		"POSTGRES_HOST":               "127.0.0.1",
	}
	c, err := Load(envOf(env), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, got, want string }{
		{"ADMIN_TOKEN", c.HTTP.AdminToken, "0123456789abcdef-admin"},
		{"RABBIT_PASSWORD", c.Broker.Rabbit.Password, "rabbit-pw"},
		{"CLICKHOUSE_PASSWORD", c.Sink.ClickHouse.Password, "ch pw with spaces"},
		{"POSTGRES_PASSWORD", c.Sink.Postgres.Password, "pg-pw"},
		{"REDIS_CLUSTER_PASSWORD", c.Dedupe.RedisPassword, "redis-pw"},
		{"WEBENGAGE_API_KEY", c.WebEngage.APIKey, "we-key"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s from %s_FILE = %q, want %q", tc.name, tc.name, tc.got, tc.want)
		}
	}
	// The variable itself still works, and the default stays without either.
	c, err = Load(envOf(map[string]string{"RABBIT_PASSWORD": "direct"}), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if c.Broker.Rabbit.Password != "direct" || c.Sink.ClickHouse.Password != "" {
		t.Fatalf("plain variables: rabbit %q clickhouse %q", c.Broker.Rabbit.Password, c.Sink.ClickHouse.Password)
	}
}

func TestSecretFileErrorsNamed(t *testing.T) {
	dir := t.TempDir()
	big := writeSecret(t, dir, "big", strings.Repeat("x", maxSecretFileBytes+1))
	_, err := Load(envOf(map[string]string{
		"RABBIT_PASSWORD":          "s3cret-direct",
		"RABBIT_PASSWORD_FILE":     writeSecret(t, dir, "rabbit", "s3cret-file"),
		"CLICKHOUSE_PASSWORD_FILE": filepath.Join(dir, "missing"),
		"POSTGRES_PASSWORD_FILE":   big,
		"ADMIN_TOKEN_FILE":         writeSecret(t, dir, "empty", "\n"),
	}), t.TempDir())
	if err == nil {
		t.Fatal("bad secret files accepted")
	}
	for _, want := range []string{
		"RABBIT_PASSWORD_FILE: RABBIT_PASSWORD is set too",
		"CLICKHOUSE_PASSWORD_FILE: open",
		"POSTGRES_PASSWORD_FILE: " + big + ": larger than",
		"ADMIN_TOKEN_FILE: ",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error leaks the secret: %v", err)
	}
}

// The list of secrets names only variables the configuration reads: a
// renamed variable must be renamed here too, or its _FILE would be ignored.
func TestSecretNamesAreRead(t *testing.T) {
	var mu sync.Mutex
	asked := map[string]bool{}
	lookup := func(k string) (string, bool) {
		mu.Lock()
		asked[k] = true
		mu.Unlock()
		return "", false
	}
	if _, err := Load(lookup, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	for _, name := range secretNames {
		if !asked[name] {
			t.Errorf("%s is in secretNames but the configuration never reads it", name)
		}
		if !asked[name+"_FILE"] {
			t.Errorf("%s_FILE is never looked up", name)
		}
	}
}
