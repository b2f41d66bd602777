package httpsrv_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/event-grpc/event-grpc/internal/health"
	"github.com/event-grpc/event-grpc/internal/ingest/httpsrv"
)

// loginServer serves the status page with the login, opened to the
// network (QUERY_ALLOW_REMOTE) with adminToken. Requests with Host
// console.example are not local (their peer is loopback, their Host not).
func loginServer(t *testing.T) (string, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	srv := httpsrv.New(httpsrv.Config{Addr: "127.0.0.1:0", MaxBodyBytes: 1 << 20, QueryRemote: true, AdminToken: adminToken,
		Logger: slog.New(slog.DiscardHandler), Gatherer: reg, Registerer: reg}, nil, health.New())
	if err := srv.MountLogin(); err != nil {
		t.Fatal(err)
	}
	srv.MountStatus(httpsrv.StatusConfig{Gatherer: reg})
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return "http://" + srv.Addr().String(), reg
}

func request(t *testing.T, method, url, host string, hdr map[string]string, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readAll(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var loginHeaders = map[string]string{"Content-Type": "application/json", "X-Forwarded-Proto": "https", "Origin": "https://console.example"}

func TestLoginCookieOpensTheStatusPage(t *testing.T) {
	base, reg := loginServer(t)
	const host = "console.example"

	// Not logged in: the page sends the browser to the form, the data
	// answers 401; the form and its script are served.
	if r := request(t, "GET", base+"/", host, nil, ""); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login" {
		t.Fatalf("GET / without a session: %d %q, want 303 to /login", r.StatusCode, r.Header.Get("Location"))
	}
	if r := request(t, "GET", base+"/admin/status", host, nil, ""); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /admin/status without a session: %d, want 401", r.StatusCode)
	}
	for _, p := range []string{"/login", "/static/login.js", "/static/console.css"} {
		if r := request(t, "GET", base+p, host, nil, ""); r.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d, want 200", p, r.StatusCode)
		}
	}
	if r := request(t, "GET", base+"/static/console.js", host, nil, ""); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /static/console.js without a session: %d, want 401", r.StatusCode)
	}

	// A wrong token: 401, no cookie, counted.
	r := request(t, "POST", base+"/login", host, loginHeaders, `{"token":"wrong-token-0123456789"}`)
	if r.StatusCode != http.StatusUnauthorized || len(r.Cookies()) != 0 {
		t.Fatalf("wrong token: %d, cookies %v", r.StatusCode, r.Cookies())
	}
	if n := testutil.ToFloat64(mustVec(t, reg).WithLabelValues("admin_login_bad_token")); n != 1 {
		t.Fatalf("admin_login_bad_token = %v, want 1", n)
	}

	// The right token: a Secure, HttpOnly, SameSite=Strict cookie of 32
	// random bytes.
	r = request(t, "POST", base+"/login", host, loginHeaders, `{"token":"`+adminToken+`"}`)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("login: %d %s", r.StatusCode, readAll(t, r))
	}
	var c *http.Cookie
	for _, x := range r.Cookies() {
		if x.Name == httpsrv.SessionCookie {
			c = x
		}
	}
	if c == nil {
		t.Fatalf("no session cookie in %v", r.Header["Set-Cookie"])
	}
	if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.MaxAge != int(httpsrv.SessionTTL.Seconds()) {
		t.Fatalf("cookie attributes: %s", r.Header.Get("Set-Cookie"))
	}
	if len(c.Value) != 43 { // 32 bytes, base64url without padding
		t.Fatalf("cookie value %q: want 32 bytes in base64url", c.Value)
	}
	cookie := map[string]string{"Cookie": c.Name + "=" + c.Value}
	if r := request(t, "GET", base+"/admin/status", host, cookie, ""); r.StatusCode != http.StatusOK || !strings.Contains(readAll(t, r), `"session":true`) {
		t.Fatalf("GET /admin/status with the session: %d", r.StatusCode)
	}
	if r := request(t, "GET", base+"/", host, cookie, ""); r.StatusCode != http.StatusOK {
		t.Fatalf("GET / with the session: %d", r.StatusCode)
	}
	// A made-up session is refused.
	if r := request(t, "GET", base+"/admin/status", host, map[string]string{"Cookie": c.Name + "=" + strings.Repeat("A", 43)}, ""); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a forged session: %d, want 401", r.StatusCode)
	}

	// Log out: the session ends server-side, the cookie is cleared.
	r = request(t, "POST", base+"/logout", host, map[string]string{"X-Requested-By": "t", "Cookie": cookie["Cookie"]}, "")
	if r.StatusCode != http.StatusOK || !strings.Contains(r.Header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("logout: %d %q", r.StatusCode, r.Header.Get("Set-Cookie"))
	}
	if r := request(t, "GET", base+"/admin/status", host, cookie, ""); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /admin/status after logout: %d, want 401", r.StatusCode)
	}
}

func TestLoginRefusesCrossSiteAndCleartext(t *testing.T) {
	base, _ := loginServer(t)
	const host = "console.example"
	body := `{"token":"` + adminToken + `"}`
	cases := []struct {
		name string
		hdr  map[string]string
		want int
	}{
		// A cross-site form cannot send JSON or a custom header.
		{"form post", map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-Proto": "https"}, http.StatusForbidden},
		{"text/plain", map[string]string{"Content-Type": "text/plain", "X-Forwarded-Proto": "https"}, http.StatusForbidden},
		{"another origin", map[string]string{"Content-Type": "application/json", "X-Forwarded-Proto": "https", "Origin": "https://evil.example"}, http.StatusForbidden},
		{"plain http over the network", map[string]string{"Content-Type": "application/json"}, http.StatusForbidden},
		{"no token", map[string]string{"Content-Type": "application/json", "X-Forwarded-Proto": "https"}, http.StatusBadRequest},
	}
	for _, c := range cases {
		b := body
		if c.name == "no token" {
			b = `{}`
		}
		r := request(t, "POST", base+"/login", host, c.hdr, b)
		if r.StatusCode != c.want || len(r.Cookies()) != 0 {
			t.Errorf("%s: %d (cookies %v), want %d: %s", c.name, r.StatusCode, r.Cookies(), c.want, readAll(t, r))
		}
	}
	// Over plain http to a loopback name (a tunnel, a browser on the
	// machine), which browsers treat as a secure context: allowed.
	if r := request(t, "POST", base+"/login", "localhost", map[string]string{"Content-Type": "application/json"}, body); r.StatusCode != http.StatusOK {
		t.Fatalf("login over http://localhost: %d %s", r.StatusCode, readAll(t, r))
	}
}

func TestLoginFailuresAreRateLimited(t *testing.T) {
	base, reg := loginServer(t)
	for i := range httpsrv.LoginFailuresPerMinute {
		if r := request(t, "POST", base+"/login", "console.example", loginHeaders, `{"token":"nope"}`); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i, r.StatusCode)
		}
	}
	// Even the right token waits now.
	r := request(t, "POST", base+"/login", "console.example", loginHeaders, `{"token":"`+adminToken+`"}`)
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || len(r.Cookies()) != 0 {
		t.Fatalf("after %d failures: %d, want 429 with Retry-After", httpsrv.LoginFailuresPerMinute, r.StatusCode)
	}
	vec := mustVec(t, reg)
	if a, b := testutil.ToFloat64(vec.WithLabelValues("admin_login_bad_token")), testutil.ToFloat64(vec.WithLabelValues("admin_login_rate_limited")); a != float64(httpsrv.LoginFailuresPerMinute) || b != 1 {
		t.Fatalf("failures counted: bad_token %v rate_limited %v", a, b)
	}
	// A wrong Bearer token on an operator endpoint counts too.
	if r := request(t, "GET", base+"/admin/status", "console.example", map[string]string{"Authorization": "Bearer nope"}, ""); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong bearer: %d", r.StatusCode)
	}
	if n := testutil.ToFloat64(vec.WithLabelValues("admin_bad_token")); n != 1 {
		t.Fatalf("admin_bad_token = %v, want 1", n)
	}
}

// mustVec is the registry's eventgrpc_auth_failures_total (registering
// an identical vector answers the one registered).
func mustVec(t *testing.T, reg *prometheus.Registry) *prometheus.CounterVec {
	t.Helper()
	cv := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "eventgrpc_auth_failures_total", Help: "Ingest requests refused by authentication, by reason.",
	}, []string{"reason"})
	err := reg.Register(cv)
	are, ok := err.(prometheus.AlreadyRegisteredError)
	if !ok {
		t.Fatalf("eventgrpc_auth_failures_total is not registered: %v", err)
	}
	return are.ExistingCollector.(*prometheus.CounterVec)
}
