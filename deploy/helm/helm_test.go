// Package helm checks the Helm chart's values against the service's
// configuration (scripts/test-helm.sh lints and renders the chart): every
// variable the values set is one the service reads, every secret is a
// variable with a NAME_FILE form, and the broker-mode example passes the
// service's own validation.
package helm

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/event-grpc/event-grpc/internal/config"
)

type values struct {
	Env     map[string]string `yaml:"env"`
	Secrets struct {
		Keys map[string]string `yaml:"keys"`
	} `yaml:"secrets"`
}

func readValues(t *testing.T, name string) values {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("event-grpc", name))
	if err != nil {
		t.Fatal(err)
	}
	var v values
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

func TestValuesNameRealVariables(t *testing.T) {
	var mu sync.Mutex
	read := map[string]bool{}
	if _, err := config.Load(func(k string) (string, bool) {
		mu.Lock()
		read[k] = true
		mu.Unlock()
		return "", false
	}, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"values.yaml", "ci/embedded-values.yaml", "ci/broker-values.yaml"} {
		v := readValues(t, name)
		for k := range v.Env {
			if !read[k] {
				t.Errorf("%s: env.%s is not a variable event-grpc reads", name, k)
			}
		}
		for k := range v.Secrets.Keys {
			if !read[k+"_FILE"] {
				t.Errorf("%s: secrets.keys.%s: event-grpc reads no %s_FILE", name, k, k)
			}
		}
	}
}

// The broker-mode example, as the chart renders it (its env, each secret as
// a _FILE, the chart's own variables), is a configuration the service
// accepts.
func TestBrokerValuesAreValid(t *testing.T) {
	v := readValues(t, "ci/broker-values.yaml")
	if len(v.Secrets.Keys) == 0 {
		t.Fatal("the broker example names no secrets")
	}
	dir := t.TempDir()
	env := map[string]string{"DATA_DIR": "/data", "PORT": "8017", "GIN_PORT": "8019", "SHUTDOWN_GRACE": "10s", "SHUTDOWN_TIMEOUT": "30s"}
	for k, val := range v.Env {
		env[k] = val
	}
	for k, key := range v.Secrets.Keys {
		content := "helm-test-secret-0123456789"
		if k == "AUTH_KEYS" {
			content = "backend:helm-test-key-0123456789\n"
		}
		p := filepath.Join(dir, key)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		env[k+"_FILE"] = p
	}
	c, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, t.TempDir())
	if err != nil {
		t.Fatalf("the broker-mode values do not pass the service's validation:\n%v", err)
	}
	if c.Broker.Rabbit.Password != "helm-test-secret-0123456789" || c.Sink.ClickHouse.TTLDays != 90 {
		t.Fatalf("secrets or TTL not read: rabbit %q ttl %d", c.Broker.Rabbit.Password, c.Sink.ClickHouse.TTLDays)
	}
}
