package httpsrv

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"mime"
	"net"
	"net/http"
	"strings"
)

// HeaderRequestedBy is the custom header that marks a POST to an operator
// endpoint as sent by a tool, not a web page (see Operator).
const HeaderRequestedBy = "X-Requested-By"

// Operator wraps an operator endpoint — the query endpoint, the admin API,
// profiles, PUT /heartbeat, the status page and tail — so that a browser
// on the operator's machine cannot be made to use it, and the network can
// only with the admin token:
//
//   - DNS rebinding: unless the request carries the admin token, its Host
//     must be a loopback name or address (localhost, 127.0.0.1, [::1]) or
//     one of Config.AdminHosts, and its peer a loopback address. A page
//     of evil.example whose name rebinds to 127.0.0.1 sends Host
//     evil.example and is refused.
//   - CSRF: a POST must say it is not a form: Content-Type
//     application/json, or the X-Requested-By header (any value), or an
//     Authorization header; a cross-site page can send none of those
//     without a CORS preflight, which this server never grants. PUT and
//     DELETE always need a preflight, so they need no marker.
//   - Opened to the network (QUERY_ALLOW_REMOTE): a request that is not
//     from loopback with a loopback Host needs Authorization: Bearer
//     <ADMIN_TOKEN>; Config.Validate refuses QUERY_ALLOW_REMOTE without a
//     token.
//   - Proxies: a request carrying Forwarded, X-Forwarded-For or
//     X-Real-IP is never local, whatever its peer address: a reverse
//     proxy on the same machine connects from loopback on behalf of
//     anyone.
//   - Outside ENV=local (Config.RequireToken), even a local request needs
//     the token on the public listener; the operator listener (ADMIN_ADDR,
//     loopback only) is the way without one. With ADMIN_ADDR the operator
//     routes are on that listener alone (404 on the public port).
//
// Refusals are 403 (401 for a missing or wrong token) with a JSON error
// naming the rule.
func (s *Server) Operator(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && !markedPost(r) {
			Error(w, http.StatusForbidden, errors.New("a POST to an operator endpoint needs Content-Type: application/json or an "+HeaderRequestedBy+" header (cross-site request protection)"))
			return
		}
		fwd := forwarded(r)
		local := !fwd && loopback(r.RemoteAddr) && s.localHost(r.Host)
		switch {
		case !local && !s.cfg.QueryRemote:
			why := "loopback clients with a loopback Host only (QUERY_ALLOW_REMOTE opens it, with ADMIN_TOKEN)"
			if fwd {
				why = "a request relayed by a proxy (Forwarded, X-Forwarded-For or X-Real-IP) is not local; QUERY_ALLOW_REMOTE with ADMIN_TOKEN opens the operator endpoints to it, or use the operator listener (ADMIN_ADDR)"
			}
			Error(w, http.StatusForbidden, errors.New(why))
			return
		case !local && !s.adminAuthorized(r): // the token, or a session of POST /login (login.go)
			w.Header().Set("WWW-Authenticate", `Bearer realm="event-grpc admin"`)
			Error(w, http.StatusUnauthorized, errors.New("an operator endpoint opened with QUERY_ALLOW_REMOTE needs Authorization: Bearer <ADMIN_TOKEN>"))
			return
		case local && s.cfg.RequireToken && !onAdminListener(r) && !s.adminAuthorized(r):
			w.Header().Set("WWW-Authenticate", `Bearer realm="event-grpc admin"`)
			if s.cfg.AdminToken == "" {
				Error(w, http.StatusForbidden, errors.New("outside ENV=local the operator endpoints need ADMIN_TOKEN (Authorization: Bearer <ADMIN_TOKEN>) or the operator listener (ADMIN_ADDR); neither is set"))
				return
			}
			Error(w, http.StatusUnauthorized, errors.New("outside ENV=local an operator endpoint needs Authorization: Bearer <ADMIN_TOKEN>, or the operator listener (ADMIN_ADDR)"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// forwarded reports whether a proxy relayed r: it carries Forwarded,
// X-Forwarded-For or X-Real-IP. Such a request comes from wherever the
// proxy's client is, even when the proxy itself connects from loopback,
// so it is never local. (A client can add these headers itself too;
// that only takes away its own loopback standing.)
func forwarded(r *http.Request) bool {
	for _, k := range []string{"Forwarded", "X-Forwarded-For", "X-Real-Ip"} {
		if _, ok := r.Header[k]; ok {
			return true
		}
	}
	return false
}

func markedPost(r *http.Request) bool {
	if r.Header.Get(HeaderRequestedBy) != "" || r.Header.Get("Authorization") != "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// localHost reports whether the Host header names this machine's
// loopback, or one of the configured admin host names.
func (s *Server) localHost(hostport string) bool {
	if loopbackHost(hostport) {
		return true
	}
	host := hostName(hostport)
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return true
	}
	for _, h := range s.cfg.AdminHosts {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

func (s *Server) adminToken(r *http.Request) bool {
	if s.cfg.AdminToken == "" {
		return false
	}
	scheme, cred, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(cred)))
	want := sha256.Sum256([]byte(s.cfg.AdminToken))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}
