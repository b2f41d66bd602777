package webhook

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"

	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/schema"
)

// WebEngage: events and user updates in the body form of WebEngage's REST
// API — what WebEngage's Events webhooks post, and what the platform's
// services send to be stored or forwarded.
//
// Which one an object is, decided per object of the request:
//
//   - an event has "eventName" (or "eventData"): it is published with
//     routing key "event" (queue webengage_ch_event_q → table
//     webengage_event). WebEngage's webhook spelling (event_name,
//     event_time, user_id, anonymous_id, license_code, event_data,
//     system_data) is renamed to the API's (eventName, eventTime, userId,
//     …); a missing eventName is taken from the eventType parameter
//     WebEngage appends to the URL, a missing licenseCode from the
//     licenseCode parameter, and a missing eventTime is the time of
//     receipt.
//   - otherwise a user has "userId" (or "user_id"): it is published with
//     routing key "user" (queue webengage_user_event_q, which forwards it
//     to WebEngage's Users API).
//     The Users API is called with the service's key, so user updates are
//     refused (401) while WEBENGAGE_WEBHOOK_SECRET is empty (ENV=local),
//     and taken only with the shared token (X-Webhook-Token or ?token=),
//     never on the static ?secret= signature: that is the same for as
//     long as the secret key, and travels in URLs that get logged.
//   - anything else is refused with 400.
//
// Verification (WEBENGAGE_WEBHOOK_SECRET = the Webhook Secret Key of the
// WebEngage dashboard): WebEngage appends ?licenseCode=…&secret=… to the
// URL, secret being the hex MD5 of "licenseCode:secretKey"; the request
// is accepted when that matches. A sender that is not WebEngage (a
// service of the platform) sends the secret itself as the shared token
// (X-Webhook-Token or ?token=).
//
// WebEngage's x-request-id header, unique per webhook request, joined with
// a digest of the message body, becomes the broker message id, so a
// retried request is de-duplicated by the broker and the events keyed by
// it in storage, while two different bodies under one request id both
// land.
var webengage = spec{
	name:     "webengage",
	env:      "WEBENGAGE",
	path:     "/webengage/event",
	exchange: "webengage_event.dx",
	verify:   verifyWebEngage,
	parse:    parseWebEngage,
	keyFrom:  "the routing key",
	idFrom:   "the X-Request-Id header",
}

var webengageTable = schema.WebEngageEventTable()

// webengageTime is the time format of WebEngage's API.
const webengageTime = "2006-01-02T15:04:05-0700"

// maxRequestID bounds the x-request-id taken as message id.
const maxRequestID = 128

// webengageAliases renames WebEngage's webhook spelling to the API's.
var webengageAliases = [][2]string{
	{"event_name", "eventName"},
	{"event_time", "eventTime"},
	{"user_id", "userId"},
	{"anonymous_id", "anonymousId"},
	{"license_code", "licenseCode"},
	{"event_data", "eventData"},
	{"system_data", "systemData"},
}

func verifyWebEngage(secret string, req *request) error {
	if secret == "" {
		return nil
	}
	if sig := req.query.Get("secret"); sig != "" {
		sum := md5.Sum([]byte(req.query.Get("licenseCode") + ":" + secret))
		if equal(strings.ToLower(sig), hex.EncodeToString(sum[:])) {
			return nil
		}
		return errors.Join(ErrUnauthorized, errors.New("the secret parameter is not the MD5 of licenseCode:secretKey"))
	}
	if err := verifyToken(secret, req); err != nil {
		return err
	}
	req.byToken = true
	return nil
}

// WebEngageSecret returns the secret parameter WebEngage appends for
// licenseCode and the webhook secret key (for tests and tools).
func WebEngageSecret(licenseCode, secretKey string) string {
	sum := md5.Sum([]byte(licenseCode + ":" + secretKey))
	return hex.EncodeToString(sum[:])
}

func isWebEngageEvent(doc map[string]any) bool {
	for _, k := range []string{"eventName", "event_name", "eventData", "event_data"} {
		if _, ok := doc[k]; ok {
			return true
		}
	}
	return false
}

func parseWebEngage(req *request) (parsed, error) {
	objs, err := objects(req.body)
	if err != nil {
		return parsed{}, err
	}
	hdr := baseHeaders("webengage", req.now)
	rid := strings.TrimSpace(req.header.Get("X-Request-Id"))
	if len(rid) > maxRequestID {
		rid = ""
	}
	if rid != "" {
		hdr["x-request-id"] = rid
	}
	var events, users []object
	for i, o := range objs {
		where := func(format string, args ...any) error {
			if len(objs) > 1 {
				return fault.Permanentf("object %d: "+format, append([]any{i}, args...)...)
			}
			return fault.Permanentf(format, args...)
		}
		switch {
		case isWebEngageEvent(o.doc):
			o, err := normalizeEvent(o, req)
			if err != nil {
				return parsed{}, where("%v", err)
			}
			if err := check(webengageTable, o.doc, hdr, req.now); err != nil {
				return parsed{}, where("%v", err)
			}
			events = append(events, o)
		case o.doc["userId"] != nil || o.doc["user_id"] != nil:
			if !req.authenticated {
				// User updates are forwarded to WebEngage's Users API with
				// the service's own key: never on behalf of an
				// unauthenticated sender.
				return parsed{}, errors.Join(ErrUnauthorized, where("a user update is forwarded to WebEngage with the service's API key, so it needs WEBENGAGE_WEBHOOK_SECRET to be set"))
			}
			if !req.byToken {
				// ?secret= is the MD5 of licenseCode:secretKey: fixed for
				// as long as the key, and it travels in URLs that end up in
				// logs. WebEngage's own webhooks post events, never user
				// updates, so an update must come with the shared token,
				// which can be rotated.
				return parsed{}, errors.Join(ErrUnauthorized, where("a user update is forwarded to WebEngage with the service's API key, so it must carry the shared token ("+TokenHeader+"), not the ?secret= signature"))
			}
			o, err := normalizeUser(o)
			if err != nil {
				return parsed{}, where("%v", err)
			}
			users = append(users, o)
		default:
			return parsed{}, where("neither a WebEngage event (no eventName) nor a user (no userId)")
		}
	}
	var p parsed
	for _, k := range []struct {
		key  string
		objs []object
	}{{"event", events}, {"user", users}} {
		if len(k.objs) == 0 {
			continue
		}
		msg := message(k.key, "", k.objs, cloneHeaders(hdr))
		msg.ID = contentID(rid, msg.Body)
		p.msgs = append(p.msgs, msg)
	}
	p.events = len(objs)
	return p, nil
}

// normalizeEvent renames webhook fields to the API's and fills eventName,
// licenseCode and eventTime from the URL parameters and the clock.
func normalizeEvent(o object, req *request) (object, error) {
	changed := false
	for _, a := range webengageAliases {
		v, ok := o.doc[a[0]]
		if !ok {
			continue
		}
		if _, has := o.doc[a[1]]; !has {
			o.doc[a[1]] = v
		}
		delete(o.doc, a[0])
		changed = true
	}
	if text(o.doc, "eventName") == "" {
		if t := req.query.Get("eventType"); t != "" {
			o.doc["eventName"] = t
			changed = true
		}
	}
	if o.doc["licenseCode"] == nil {
		if l := req.query.Get("licenseCode"); l != "" {
			o.doc["licenseCode"] = l
			changed = true
		}
	}
	if o.doc["eventTime"] == nil {
		o.doc["eventTime"] = req.now.UTC().Format(webengageTime)
		changed = true
	}
	if text(o.doc, "eventName") == "" {
		return o, errors.New("eventName is empty")
	}
	if changed {
		raw, err := encode(o.doc)
		if err != nil {
			return o, err
		}
		o.raw = raw
	}
	return o, nil
}

func normalizeUser(o object) (object, error) {
	if v, ok := o.doc["user_id"]; ok {
		if o.doc["userId"] == nil {
			o.doc["userId"] = v
		}
		delete(o.doc, "user_id")
		raw, err := encode(o.doc)
		if err != nil {
			return o, err
		}
		o.raw = raw
	}
	if text(o.doc, "userId") == "" {
		return o, errors.New("userId must be a non-empty string")
	}
	return o, nil
}

// encode writes doc as compact JSON, numbers as they were sent, without
// HTML escaping.
func encode(doc map[string]any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
