package httpsrv

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-grpc/event-grpc/internal/telemetry"
)

// The login of the status page for remote operators: POST /login with the
// admin token (ADMIN_TOKEN) answers a session cookie that Operator accepts
// like the Bearer token, so a browser can use the page and its data from
// another machine when QUERY_ALLOW_REMOTE opens the operator endpoints.
//
//   - The cookie is Secure, HttpOnly and SameSite=Strict: a page of another
//     site can neither read it nor make the browser send it, which with the
//     POST marker rule of Operator keeps the endpoints CSRF-safe.
//   - Its value is 32 random bytes; the server keeps only their SHA-256,
//     with an expiry (SessionTTL), at most MaxSessions at once (the oldest
//     is dropped for a new one).
//   - POST /login must be a marked POST (JSON or X-Requested-By, as
//     Operator asks), from the page's own origin when the browser says
//     one, over HTTPS (TLS here, or a proxy saying X-Forwarded-Proto:
//     https) or to a loopback Host: a token sent in clear over the network
//     is refused, and a browser would not keep the Secure cookie anyway.
//   - Failed logins are limited per client address (LoginFailuresPerMinute)
//     and counted in eventgrpc_auth_failures_total{reason="admin_login_…"}.
const (
	SessionCookie          = "eventgrpc_session"
	SessionTTL             = 12 * time.Hour
	MaxSessions            = 64
	LoginFailuresPerMinute = 5
	maxLoginClients        = 4096 // client addresses tracked for the failure limit
)

// sessions is the server-side session table and the failed-login limiter.
type sessions struct {
	mu       sync.Mutex
	byHash   map[[32]byte]time.Time // SHA-256 of the cookie value → expiry
	failures map[string]*loginFailures
	now      func() time.Time
	refused  *prometheus.CounterVec
}

type loginFailures struct {
	window time.Time // start of the minute counted
	n      int
}

func newSessions(reg prometheus.Registerer) (*sessions, error) {
	s := &sessions{byHash: map[[32]byte]time.Time{}, failures: map[string]*loginFailures{}, now: time.Now}
	// The same counter as the ingest authentication's (internal/auth):
	// registered there first in the service, shared here.
	cv := telemetry.NewCounterVec("eventgrpc_auth_failures_total", "Ingest requests refused by authentication, by reason.", "reason")
	if err := telemetry.Register(reg, &cv); err != nil {
		return nil, err
	}
	for _, r := range []string{"admin_login_bad_token", "admin_login_rate_limited", "admin_bad_token"} {
		cv.WithLabelValues(r)
	}
	s.refused = cv
	return s, nil
}

func (s *sessions) create() (string, time.Time, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", time.Time{}, err
	}
	id := base64.RawURLEncoding.EncodeToString(b[:])
	now := s.now()
	exp := now.Add(SessionTTL)
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, e := range s.byHash {
		if !now.Before(e) {
			delete(s.byHash, h)
		}
	}
	for len(s.byHash) >= MaxSessions {
		var oldest [32]byte
		var at time.Time
		for h, e := range s.byHash {
			if at.IsZero() || e.Before(at) {
				oldest, at = h, e
			}
		}
		delete(s.byHash, oldest)
	}
	s.byHash[sha256.Sum256([]byte(id))] = exp
	return id, exp, nil
}

func (s *sessions) valid(id string) bool {
	if id == "" {
		return false
	}
	h := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.byHash[h]
	if ok && !s.now().Before(exp) {
		delete(s.byHash, h)
		return false
	}
	return ok
}

func (s *sessions) end(id string) {
	h := sha256.Sum256([]byte(id))
	s.mu.Lock()
	delete(s.byHash, h)
	s.mu.Unlock()
}

// limited reports whether client has used up its failed logins this
// minute.
func (s *sessions) limited(client string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.failures[client]
	return f != nil && s.now().Sub(f.window) < time.Minute && f.n >= LoginFailuresPerMinute
}

// failed counts one failed login of client. When the table is full of
// clients failing this minute, the newcomers share one entry.
func (s *sessions) failed(client string) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failures) >= maxLoginClients && s.failures[client] == nil {
		for c, f := range s.failures {
			if now.Sub(f.window) >= time.Minute {
				delete(s.failures, c)
			}
		}
		if len(s.failures) >= maxLoginClients {
			client = "(many)"
		}
	}
	f := s.failures[client]
	if f == nil || now.Sub(f.window) >= time.Minute {
		f = &loginFailures{window: now}
		s.failures[client] = f
	}
	f.n++
}

// adminAuthorized is the credential check of Operator for a request that
// is not local: the admin token as a Bearer, or a valid session cookie. A
// wrong token is counted as an auth failure.
func (s *Server) adminAuthorized(r *http.Request) bool {
	if s.adminToken(r) || s.adminSession(r) {
		return true
	}
	if r.Header.Get("Authorization") != "" && s.sess != nil {
		s.sess.refused.WithLabelValues("admin_bad_token").Inc()
	}
	return false
}

// adminSession reports whether r carries a valid session cookie.
func (s *Server) adminSession(r *http.Request) bool {
	if s.sess == nil || s.cfg.AdminToken == "" {
		return false
	}
	c, err := r.Cookie(SessionCookie)
	return err == nil && s.sess.valid(c.Value)
}

// MountLogin adds GET /login (the form), POST /login and POST /logout.
// Without ADMIN_TOKEN there is nothing to log in with: POST /login answers
// 404.
func (s *Server) MountLogin() error {
	sess, err := newSessions(s.cfg.Registerer)
	if err != nil {
		return err
	}
	s.sess = sess
	s.admin.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
		http.ServeFileFS(w, r, staticSub(), "login.html")
	})
	// The form's script and style, which the guarded GET /static/ would
	// refuse before the login.
	files := http.FileServerFS(staticSub())
	s.admin.Handle("GET /static/login.js", http.StripPrefix("/static/", files))
	s.admin.Handle("GET /static/console.css", http.StripPrefix("/static/", files))
	s.admin.HandleFunc("POST /login", s.postLogin)
	s.admin.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if !markedPost(r) {
			Error(w, http.StatusForbidden, errors.New("POST /logout needs Content-Type: application/json or an "+HeaderRequestedBy+" header (cross-site request protection)"))
			return
		}
		if c, err := r.Cookie(SessionCookie); err == nil {
			s.sess.end(c.Value)
		}
		http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"logged_out":true}`+"\n")
	})
	return nil
}

func (s *Server) postLogin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if s.cfg.AdminToken == "" {
		Error(w, http.StatusNotFound, errors.New("login is off: no ADMIN_TOKEN is set"))
		return
	}
	if !markedPost(r) {
		Error(w, http.StatusForbidden, errors.New("POST /login needs Content-Type: application/json or an "+HeaderRequestedBy+" header (cross-site request protection)"))
		return
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			Error(w, http.StatusForbidden, errors.New("POST /login from another origin ("+o+") is refused"))
			return
		}
	}
	if !(r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") || loopbackHost(r.Host)) {
		Error(w, http.StatusForbidden, errors.New("login needs HTTPS (TLS in front of the service, with X-Forwarded-Proto: https): the token would cross the network in clear, and a browser does not keep a Secure cookie over plain HTTP"))
		return
	}
	client := clientAddr(r.RemoteAddr)
	if s.sess.limited(client) {
		s.sess.refused.WithLabelValues("admin_login_rate_limited").Inc()
		w.Header().Set("Retry-After", "60")
		Error(w, http.StatusTooManyRequests, errors.New("too many failed logins from "+client+"; wait a minute"))
		return
	}
	token, err := loginToken(r)
	if err != nil {
		Error(w, http.StatusBadRequest, err)
		return
	}
	got := sha256.Sum256([]byte(token))
	want := sha256.Sum256([]byte(s.cfg.AdminToken))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		s.sess.failed(client)
		s.sess.refused.WithLabelValues("admin_login_bad_token").Inc()
		Error(w, http.StatusUnauthorized, errors.New("wrong admin token"))
		return
	}
	id, exp, err := s.sess.create()
	if err != nil {
		Error(w, http.StatusInternalServerError, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", Expires: exp, MaxAge: int(SessionTTL / time.Second),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	s.cfg.Logger.Info("operator logged in", "remote", r.RemoteAddr, "expires", exp.Format(time.RFC3339))
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"expires":`+strconv.Quote(exp.UTC().Format(time.RFC3339))+"}\n")
}

// loginToken reads {"token": "…"} (or a form's token field, for a POST
// marked with X-Requested-By).
func loginToken(r *http.Request) (string, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<10))
	if err != nil {
		return "", err
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var token string
	if mt == "application/json" {
		var in struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal(body, &in); err != nil {
			return "", errors.New(`the body must be {"token": "<ADMIN_TOKEN>"}`)
		}
		token = in.Token
	} else {
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return "", errors.New("the body must be a form with a token field")
		}
		token = v.Get("token")
	}
	if token = strings.TrimSpace(token); token == "" {
		return "", errors.New("no token given")
	}
	return token, nil
}

// loopbackHost reports whether a Host header names loopback (Chromium and
// Firefox keep Secure cookies of http://localhost and 127.0.0.1).
func loopbackHost(hostport string) bool {
	host := hostName(hostport)
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hostName is a Host header's host, without port, brackets or the
// trailing dot, in lower case.
func hostName(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	return strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
}

func clientAddr(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}

// redirectToLogin wraps the status page: a browser the operator guard
// answers 401 (not local, no token, no session) is sent to the login form
// instead of a JSON error.
func redirectToLogin(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&loginRedirect{ResponseWriter: w}, r)
	})
}

type loginRedirect struct {
	http.ResponseWriter
	redirected bool
}

func (l *loginRedirect) WriteHeader(code int) {
	if code == http.StatusUnauthorized {
		l.redirected = true
		h := l.ResponseWriter.Header()
		h.Del("Content-Type")
		h.Set("Location", "/login")
		l.ResponseWriter.WriteHeader(http.StatusSeeOther)
		return
	}
	l.ResponseWriter.WriteHeader(code)
}

func (l *loginRedirect) Write(b []byte) (int, error) {
	if l.redirected {
		return len(b), nil
	}
	return l.ResponseWriter.Write(b)
}
