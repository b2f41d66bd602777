package auth

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-grpc/event-grpc/internal/telemetry"
)

// Header names (HTTP headers; gRPC metadata keys are the same, lowercase).
const (
	HeaderClientID      = "x-client-id"
	HeaderAuthorization = "authorization"
	HeaderTimestamp     = "x-timestamp"
	HeaderSignature     = "x-signature"
)

// Failure reasons, the values of the reason label of
// eventgrpc_auth_failures_total.
const (
	ReasonMissing       = "missing"        // a required header is absent
	ReasonMalformed     = "malformed"      // a header or the body cannot be read
	ReasonUnknownClient = "unknown_client" // x-client-id is not configured
	ReasonBadKey        = "bad_key"        // apikey: the key does not match
	ReasonBadSignature  = "bad_signature"  // hmac: the signature does not match
	ReasonSkew          = "skew"           // hmac: the timestamp is too far from now
	ReasonReplay        = "replay"         // hmac: the signature was already used
	ReasonTooLarge      = "too_large"      // hmac over HTTP: the body is over MaxBodyBytes
)

var reasons = []string{ReasonMissing, ReasonMalformed, ReasonUnknownClient, ReasonBadKey,
	ReasonBadSignature, ReasonSkew, ReasonReplay, ReasonTooLarge}

// badCredentials is the one answer to an unknown client and to a wrong
// key, so that answers do not tell which client ids exist.
const badCredentials = "x-client-id and key do not match a configured client"

// badSignature is the one answer, in HMAC mode, to an unknown client and
// to a signature that does not match.
const badSignature = "x-client-id and x-signature do not match a configured client and this request"

// Authenticator checks the credentials of ingest requests. Safe for
// concurrent use; it starts no goroutines.
type Authenticator struct {
	mode    string
	maxSkew time.Duration
	maxBody int64
	now     func() time.Time
	clients map[string]*client
	dummy   [sha256.Size]byte // compared against when the client is unknown (apikey)
	replay  *replayCache      // nil when off
	shared  *sharedReplay     // nil without Redis
	m       *metrics
	// byKey finds a client by the SHA-256 of its API key, for the Segment
	// API's write keys (apikey mode; see WriteKey). A key that several
	// clients share maps to "".
	byKey map[[sha256.Size]byte]string
}

type client struct {
	digest [sha256.Size]byte // apikey: SHA-256 of the key
	secret []byte            // hmac
	ok     prometheus.Counter
}

// New builds an Authenticator. now is the clock (time.Now when nil);
// metrics are registered on reg when it is not nil.
func New(cfg Config, reg prometheus.Registerer, now func() time.Time) (*Authenticator, error) {
	cfg.Mode = cmp.Or(cfg.Mode, ModeOff)
	cfg.MaxSkew = cmp.Or(cfg.MaxSkew, DefaultMaxSkew)
	cfg.MaxBodyBytes = cmp.Or(cfg.MaxBodyBytes, DefaultMaxBodyBytes)
	cfg.ReplayCache = cmp.Or(cfg.ReplayCache, DefaultReplayCache)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	a := &Authenticator{
		mode: cfg.Mode, maxSkew: cfg.MaxSkew, maxBody: cfg.MaxBodyBytes, now: now,
		clients: make(map[string]*client, len(cfg.Keys)), m: m,
	}
	if _, err := rand.Read(a.dummy[:]); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	for id, key := range cfg.Keys {
		label := "all"
		if cfg.ClientLabels {
			label = id
		}
		c := &client{ok: m.successes.WithLabelValues(label)}
		switch cfg.Mode {
		case ModeAPIKey:
			c.digest = sha256.Sum256([]byte(key))
		case ModeHMAC:
			c.secret = []byte(key)
		}
		a.clients[id] = c
		if cfg.Mode == ModeAPIKey {
			if a.byKey == nil {
				a.byKey = make(map[[sha256.Size]byte]string, len(cfg.Keys))
			}
			if _, shared := a.byKey[c.digest]; shared {
				a.byKey[c.digest] = ""
			} else {
				a.byKey[c.digest] = id
			}
		}
	}
	if cfg.Mode == ModeHMAC && cfg.ReplayCache > 0 {
		a.replay = newReplayCache(cfg.ReplayCache, m.replayEvicted)
		if a.shared, err = newSharedReplay(cfg, m.replayRedisErrors); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Close releases the shared replay cache's connections; safe to call twice.
func (a *Authenticator) Close() error {
	if a.shared == nil {
		return nil
	}
	return a.shared.close()
}

// Mode is the configured mode.
func (a *Authenticator) Mode() string { return a.mode }

type ctxKey struct{}

// WithClientID returns ctx carrying an authenticated client id.
func WithClientID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// ClientID is the authenticated client id of a request, or "" when the
// request was not authenticated (AUTH_MODE=off, or not an ingest call).
func ClientID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// failure is a refused request: the reason label, the message the client
// gets (never key material), and the HTTP status.
type failure struct {
	reason string
	msg    string
	status int
}

func fail(reason, msg string) *failure {
	return &failure{reason: reason, msg: msg, status: http.StatusUnauthorized}
}

// getter reads the values of a header by its lowercase name.
type getter func(name string) []string

// bodyFunc returns the bytes a signature covers; called only in hmac mode,
// after the cheap header checks passed. A nil bodyFunc checks the headers
// alone.
type bodyFunc func() ([]byte, *failure)

// authenticate checks one request and returns its client id.
func (a *Authenticator) authenticate(get getter, body bodyFunc) (string, *failure) {
	id, f := single(get, HeaderClientID)
	if f != nil {
		return "", f
	}
	if a.mode == ModeAPIKey {
		return id, a.checkKey(id, get)
	}
	return id, a.checkSignature(id, get, body)
}

// single returns the one value of a header.
func single(get getter, name string) (string, *failure) {
	vs := get(name)
	switch {
	case len(vs) == 0 || vs[0] == "":
		return "", fail(ReasonMissing, name+" is missing")
	case len(vs) > 1:
		return "", fail(ReasonMalformed, name+" is given more than once")
	}
	return vs[0], nil
}

func (a *Authenticator) checkKey(id string, get getter) *failure {
	authz, f := single(get, HeaderAuthorization)
	if f != nil {
		if f.reason == ReasonMissing {
			f.msg = "authorization is missing (want: Bearer <key>)"
		}
		return f
	}
	scheme, cred, err := ParseAuthorization(authz)
	if err != nil {
		return fail(ReasonMalformed, "authorization: "+err.Error())
	}
	if !strings.EqualFold(scheme, "Bearer") {
		return fail(ReasonMalformed, "authorization scheme must be Bearer")
	}
	got := sha256.Sum256([]byte(cred))
	c, known := a.clients[id]
	want := &a.dummy
	if known {
		want = &c.digest
	}
	// Always compare, so an unknown client costs the same as a wrong key.
	match := subtle.ConstantTimeCompare(got[:], want[:]) == 1
	switch {
	case !known:
		return fail(ReasonUnknownClient, badCredentials)
	case !match:
		return fail(ReasonBadKey, badCredentials)
	}
	return nil
}

func (a *Authenticator) checkSignature(id string, get getter, body bodyFunc) *failure {
	tsText, f := single(get, HeaderTimestamp)
	if f != nil {
		return f
	}
	ts, ok := parseMillis(tsText)
	if !ok {
		return fail(ReasonMalformed, "x-timestamp must be unix milliseconds")
	}
	sigText, f := single(get, HeaderSignature)
	if f != nil {
		return f
	}
	var sig [sha256.Size]byte
	if len(sigText) != hex.EncodedLen(sha256.Size) {
		return fail(ReasonMalformed, "x-signature must be 64 hex digits (HMAC-SHA256)")
	}
	if _, err := hex.Decode(sig[:], []byte(sigText)); err != nil {
		return fail(ReasonMalformed, "x-signature must be 64 hex digits (HMAC-SHA256)")
	}
	// Every step before the verdict is the same for an unknown client as
	// for a known one (the clock check, reading the body, an HMAC against
	// a dummy secret), and both refusals say the same, so answers and
	// timings do not tell which client ids exist.
	now := a.now()
	if d := now.Sub(ts); d > a.maxSkew || d < -a.maxSkew {
		return fail(ReasonSkew, fmt.Sprintf("x-timestamp is %v away from the server clock; the limit is %v", d.Round(time.Second), a.maxSkew))
	}
	// An unknown client is refused before its body is read, so a
	// stranger's body costs nothing; the answer is the one a wrong
	// signature gets. (Its timing differs: client ids are not secrets,
	// the keys are.)
	c, known := a.clients[id]
	if !known {
		return fail(ReasonUnknownClient, badSignature)
	}
	if body == nil {
		return nil // headers only (CheckHeaders): the signature waits for the body
	}
	b, f := body()
	if f != nil {
		return f
	}
	if !hmac.Equal(mac(c.secret, tsText, b), sig[:]) {
		return fail(ReasonBadSignature, badSignature)
	}
	if a.replay != nil {
		var key [16]byte
		copy(key[:], sig[:])
		if !a.replay.add(key, ts.Add(a.maxSkew).UnixNano(), now.UnixNano()) {
			return fail(ReasonReplay, "this signature was already used; sign every request anew")
		}
		if a.shared != nil {
			// Redis failing leaves the local answer (counted, not fatal).
			if fresh, err := a.shared.add(key, ts.Add(a.maxSkew).Sub(now)); err == nil && !fresh {
				return fail(ReasonReplay, "this signature was already used; sign every request anew")
			}
		}
	}
	return nil
}

// parseMillis reads 1 to 16 decimal digits as unix milliseconds.
func parseMillis(s string) (time.Time, bool) {
	if len(s) == 0 || len(s) > 16 {
		return time.Time{}, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return time.Time{}, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(n), true
}

func mac(secret []byte, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

func (a *Authenticator) refused(f *failure) { a.m.failures.WithLabelValues(f.reason).Inc() }

func (a *Authenticator) accepted(id string) {
	if c := a.clients[id]; c != nil {
		c.ok.Inc()
	}
}

type metrics struct {
	failures      *prometheus.CounterVec
	successes     *prometheus.CounterVec
	replayEvicted prometheus.Counter
	// replayRedisErrors: shared replay checks Redis did not answer.
	replayRedisErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		failures:          telemetry.NewCounterVec("eventgrpc_auth_failures_total", "Ingest requests refused by authentication, by reason.", "reason"),
		successes:         telemetry.NewCounterVec("eventgrpc_auth_successes_total", "Ingest requests authenticated, by client id with METRICS_CLIENT_LABELS=true, else \"all\".", "client"),
		replayEvicted:     telemetry.NewCounter("eventgrpc_auth_replay_cache_evictions_total", "Signatures dropped from a full replay cache before their window ended (raise AUTH_REPLAY_CACHE)."),
		replayRedisErrors: telemetry.NewCounter("eventgrpc_auth_replay_redis_errors_total", "Signature checks the shared replay cache (Redis) did not answer; the instance's own cache answered."),
	}
	if err := errors.Join(
		telemetry.Register(reg, &m.failures, &m.successes),
		telemetry.Register(reg, &m.replayEvicted, &m.replayRedisErrors),
	); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	for _, r := range reasons {
		m.failures.WithLabelValues(r)
	}
	return m, nil
}
