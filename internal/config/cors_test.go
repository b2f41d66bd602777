package config

import (
	"strings"
	"testing"
)

func TestCORSAllowedOrigins(t *testing.T) {
	for _, c := range []struct {
		value string
		want  []string // nil: refused
	}{
		{"", []string{}},
		{"https://app.example.com, http://localhost:5173", []string{"https://app.example.com", "http://localhost:5173"}},
		{"*", []string{"*"}},
		{"*,https://app.example.com", nil},
		{"app.example.com", nil},
		{"https://app.example.com/", nil},
		{"https://*.example.com", nil},
		{"ftp://app.example.com", nil},
	} {
		cfg, err := Load(envOf(map[string]string{"CORS_ALLOWED_ORIGINS": c.value}), t.TempDir())
		if c.want == nil {
			if err == nil || !strings.Contains(err.Error(), "CORS_ALLOWED_ORIGINS") {
				t.Errorf("%q: err = %v", c.value, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.value, err)
			continue
		}
		if strings.Join(cfg.HTTP.CORSAllowedOrigins, " ") != strings.Join(c.want, " ") {
			t.Errorf("%q: %q", c.value, cfg.HTTP.CORSAllowedOrigins)
		}
	}
}
