package auth

import (
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{"", "Bearer abc", "bearer   x y ", "Basic", " Bearer x", "Bearer \x00", "B@d x", "Bearer\tx", "Bearer \t "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		scheme, cred, err := ParseAuthorization(header)
		if err != nil {
			if scheme != "" || cred != "" {
				t.Fatal("values returned with an error")
			}
			if len(header) >= 8 && strings.Contains(err.Error(), header) {
				t.Fatalf("error %q quotes the header", err)
			}
			return
		}
		if scheme == "" || cred == "" {
			t.Fatalf("empty part without an error: %q %q", scheme, cred)
		}
		for i := 0; i < len(scheme); i++ {
			if !isTokenChar(scheme[i]) {
				t.Fatalf("scheme %q is not a token", scheme)
			}
		}
		if cred != strings.TrimSpace(cred) || strings.ContainsAny(cred, "\x00\r\n") {
			t.Fatalf("credentials %q not trimmed or with controls", cred)
		}
		if !strings.HasPrefix(header, scheme+" ") || !strings.Contains(header, cred) {
			t.Fatalf("parts %q %q are not from %q", scheme, cred, header)
		}
	})
}

// FuzzHMACHeaders sends random header values and bodies through the hmac
// middleware and the header checks of apikey mode: nothing panics and
// nothing authenticates without the secret.
func FuzzHMACHeaders(f *testing.F) {
	now := time.UnixMilli(1_750_000_000_000)
	f.Add(clientA, Timestamp(now), Sign([]byte(keyA), now, []byte("x")), "Bearer "+keyB, []byte("y"))
	f.Add("", "", "", "", []byte(nil))
	f.Add(clientB, "99999999999999999999", strings.Repeat("0", 64), "Bearer", []byte("{}"))
	f.Add(clientA, "-1", strings.Repeat("G", 64), "bearer "+keyA+"x", []byte{0xff})
	hm, err := New(Config{Mode: ModeHMAC, Keys: keys}, nil, func() time.Time { return now })
	if err != nil {
		f.Fatal(err)
	}
	ak, err := New(Config{Mode: ModeAPIKey, Keys: keys}, nil, func() time.Time { return now })
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, ts, sig, authz string, body []byte) {
		passed := false
		next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { passed = true })
		for _, a := range []*Authenticator{hm, ak} {
			passed = false
			req := httptest.NewRequest(http.MethodPost, "/v1/events", strings.NewReader(string(body)))
			for k, v := range map[string]string{HeaderClientID: id, HeaderTimestamp: ts, HeaderSignature: sig, HeaderAuthorization: authz} {
				if v != "" {
					req.Header[http.CanonicalHeaderKey(k)] = []string{v}
				}
			}
			rec := httptest.NewRecorder()
			a.Middleware(next).ServeHTTP(rec, req)
			if !passed {
				if rec.Code == http.StatusOK {
					t.Fatal("refused with 200")
				}
				continue
			}
			// Passing is only possible with a genuine credential.
			switch a.mode {
			case ModeHMAC:
				secret, ok := keys[id]
				mustMillis(t, ts)
				if !ok || !strings.EqualFold(sig, hex.EncodeToString(mac([]byte(secret), ts, body))) {
					t.Fatalf("authenticated without a valid signature: id %q ts %q sig %q", id, ts, sig)
				}
			case ModeAPIKey:
				_, cred, err := ParseAuthorization(authz)
				if err != nil || keys[id] != cred {
					t.Fatalf("authenticated without the key: id %q authorization %q", id, authz)
				}
			}
		}
	})
}

func mustMillis(t *testing.T, s string) time.Time {
	ts, ok := parseMillis(s)
	if !ok {
		t.Fatalf("authenticated with unparsable timestamp %q", s)
	}
	return ts
}
