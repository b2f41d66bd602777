package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/config/configtest"
)

func TestConfigFromEnv(t *testing.T) {
	dir := t.TempDir()
	keysFile := filepath.Join(dir, "keys")
	if err := os.WriteFile(keysFile, []byte("# clients\n\nweb:"+keyA+"\n  ios : "+keyB+"  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badFile := filepath.Join(dir, "bad")
	if err := os.WriteFile(badFile, []byte("web:"+keyA+"\nno-colon-"+keyB+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		env      string
		vars     map[string]string
		wantErr  string // substring; "" = no error
		wantMode string
		wantKeys map[string]string
		check    func(t *testing.T, c Config)
	}{
		{name: "local defaults to off", env: "local", vars: nil, wantMode: ModeOff, wantKeys: map[string]string{}},
		{name: "stage without AUTH_MODE", env: "stage", vars: nil,
			wantErr: "AUTH_MODE must be set outside ENV=local (set AUTH_MODE=off to run without authentication)"},
		{name: "production without AUTH_MODE", env: "production", vars: map[string]string{"AUTH_API_KEYS": "a:" + keyA},
			wantErr: "AUTH_MODE must be set outside ENV=local"},
		{name: "production with explicit off", env: "production", vars: map[string]string{"AUTH_MODE": "off"}, wantMode: ModeOff, wantKeys: map[string]string{}},
		{name: "unknown mode", env: "local", vars: map[string]string{"AUTH_MODE": "jwt"}, wantErr: `AUTH_MODE: "jwt" is not off, apikey or hmac`},
		{name: "apikey without keys", env: "production", vars: map[string]string{"AUTH_MODE": "apikey"}, wantErr: "AUTH_MODE=apikey needs keys"},
		{name: "hmac without keys", env: "local", vars: map[string]string{"AUTH_MODE": "HMAC"}, wantErr: "AUTH_MODE=hmac needs keys"},
		{name: "apikey from the variable", env: "production",
			vars:     map[string]string{"AUTH_MODE": "apikey", "AUTH_API_KEYS": "a:" + keyA + ", b:" + keyB + ","},
			wantMode: ModeAPIKey, wantKeys: map[string]string{"a": keyA, "b": keyB}},
		{name: "key containing a colon", env: "production",
			vars:     map[string]string{"AUTH_MODE": "apikey", "AUTH_API_KEYS": "a:" + keyA + ":tail"},
			wantMode: ModeAPIKey, wantKeys: map[string]string{"a": keyA + ":tail"}},
		{name: "hmac from the file", env: "stage",
			vars:     map[string]string{"AUTH_MODE": "hmac", "AUTH_KEYS_FILE": keysFile},
			wantMode: ModeHMAC, wantKeys: map[string]string{"web": keyA, "ios": keyB}},
		{name: "variable and file together", env: "stage",
			vars:     map[string]string{"AUTH_MODE": "hmac", "AUTH_KEYS_FILE": keysFile, "AUTH_API_KEYS": "cli:" + keyB},
			wantMode: ModeHMAC, wantKeys: map[string]string{"web": keyA, "ios": keyB, "cli": keyB}},
		{name: "client in both", env: "stage",
			vars:    map[string]string{"AUTH_MODE": "hmac", "AUTH_KEYS_FILE": keysFile, "AUTH_API_KEYS": "web:" + keyB},
			wantErr: `AUTH_KEYS_FILE: client "web" is already defined by AUTH_API_KEYS`},
		{name: "entry without colon", env: "stage",
			vars:    map[string]string{"AUTH_MODE": "apikey", "AUTH_API_KEYS": "a:" + keyA + "," + keyB},
			wantErr: "AUTH_API_KEYS: entry 2: not client_id:key"},
		{name: "short key", env: "stage",
			vars:    map[string]string{"AUTH_MODE": "apikey", "AUTH_API_KEYS": "a:tiny-s3cret"},
			wantErr: `AUTH_API_KEYS: entry 1: the key of client "a" is shorter than 16 bytes`},
		{name: "bad client id", env: "stage",
			vars:    map[string]string{"AUTH_MODE": "apikey", "AUTH_API_KEYS": "a b:" + keyA},
			wantErr: "AUTH_API_KEYS: entry 1: client id must be"},
		{name: "bad file line", env: "stage",
			vars:    map[string]string{"AUTH_MODE": "apikey", "AUTH_KEYS_FILE": badFile},
			wantErr: "AUTH_KEYS_FILE: " + badFile + " line 2: not client_id:key"},
		{name: "missing file", env: "stage",
			vars:    map[string]string{"AUTH_MODE": "apikey", "AUTH_KEYS_FILE": filepath.Join(dir, "nope")},
			wantErr: "AUTH_KEYS_FILE: open"},
		{name: "skew and replay cache", env: "local",
			vars:     map[string]string{"AUTH_MAX_SKEW": "90s", "AUTH_REPLAY_CACHE": "0"},
			wantMode: ModeOff, wantKeys: map[string]string{},
			check: func(t *testing.T, c Config) {
				if c.MaxSkew != 90*time.Second || c.ReplayCache >= 0 {
					t.Fatalf("MaxSkew %v, ReplayCache %d", c.MaxSkew, c.ReplayCache)
				}
			}},
		{name: "bad skew", env: "local", vars: map[string]string{"AUTH_MAX_SKEW": "-1m"}, wantErr: "AUTH_MAX_SKEW"},
		{name: "default skew", env: "local", wantMode: ModeOff, wantKeys: map[string]string{},
			check: func(t *testing.T, c Config) {
				if c.MaxSkew != 5*time.Minute || c.ReplayCache != DefaultReplayCache {
					t.Fatalf("MaxSkew %v, ReplayCache %d", c.MaxSkew, c.ReplayCache)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := ConfigFromEnv(configtest.Env(c.vars), c.env)
			if err != nil {
				for _, k := range []string{keyA, keyB, "tiny-s3cret", keyA[:10], keyB[:10]} {
					if strings.Contains(err.Error(), k) {
						t.Fatalf("error %q contains key material", err)
					}
				}
			}
			if configtest.WantErr(t, err, c.wantErr) {
				return
			}
			if cfg.Mode != c.wantMode {
				t.Fatalf("mode %q, want %q", cfg.Mode, c.wantMode)
			}
			if len(cfg.Keys) != len(c.wantKeys) {
				t.Fatalf("%d keys, want %d", len(cfg.Keys), len(c.wantKeys))
			}
			for id, k := range c.wantKeys {
				if cfg.Keys[id] != k {
					t.Fatalf("client %q: key differs", id)
				}
			}
			if c.check != nil {
				c.check(t, cfg)
			}
			if _, err := New(cfg, nil, nil); err != nil {
				t.Fatalf("New refuses what ConfigFromEnv returned: %v", err)
			}
		})
	}
}
