package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestWriteKey(t *testing.T) {
	a, err := New(Config{Mode: ModeAPIKey, Keys: map[string]string{
		"web": "web-write-key-0123456789", "ios": "ios-write-key-0123456789",
		"twin-a": "shared-write-key-0123456789", "twin-b": "shared-write-key-0123456789",
	}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ key, id, err string }{
		{"web-write-key-0123456789", "web", ""},
		{"ios-write-key-0123456789", "ios", ""},
		{"", "", "missing"},
		{"web-write-key-012345678", "", "does not match"},
		{"shared-write-key-0123456789", "", "several clients"},
	} {
		id, err := a.WriteKey(tc.key)
		if id != tc.id || (tc.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("WriteKey(%q) = %q, %v; want %q, %s", tc.key, id, err, tc.id, tc.err)
		}
		if err != nil && strings.Contains(err.Error(), "0123") {
			t.Errorf("the error holds key material: %v", err)
		}
	}
	off, _ := New(Config{Mode: ModeOff}, nil, nil)
	if id, err := off.WriteKey(""); id != "" || err != nil {
		t.Errorf("mode off: %q, %v", id, err)
	}
	hm, _ := New(Config{Mode: ModeHMAC, Keys: map[string]string{"web": "web-secret-0123456789"}}, nil, nil)
	if _, err := hm.WriteKey("web-secret-0123456789"); !errors.Is(err, ErrWriteKeyHMAC) {
		t.Errorf("mode hmac: %v", err)
	}
}
