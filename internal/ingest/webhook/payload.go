package webhook

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/schema"
)

// MaxEventsPerRequest bounds the objects of one request's JSON array.
const MaxEventsPerRequest = 1000

// ContentType of every published message.
const ContentType = "application/json"

// HeaderSource names the provider a message came from.
const HeaderSource = "x-source"

// request is what a provider's verify and parse functions see.
type request struct {
	header http.Header
	query  url.Values
	body   []byte
	now    time.Time
	// authenticated: the provider has a secret, which verify checked.
	authenticated bool
	// byToken: verify checked the shared token (X-Webhook-Token or
	// ?token=), which the operator can rotate, rather than a provider's
	// static signature such as WebEngage's ?secret=.
	byToken bool
}

// object is one JSON object of a request: its bytes as sent (numbers keep
// their precision) and its decoded form (numbers as json.Number).
type object struct {
	raw []byte
	doc map[string]any
}

// objects reads a body that holds one JSON object or an array of them.
// Every error is permanent (400) and says what is wrong.
func objects(body []byte) ([]object, error) {
	b := bytes.TrimSpace(body)
	if len(b) == 0 {
		return nil, fault.Permanentf("the body is empty; want a JSON object or an array of objects")
	}
	if !utf8.Valid(b) {
		return nil, fault.Permanentf("the body is not valid UTF-8")
	}
	if b[0] != '[' {
		doc, err := decodeObject(b)
		if err != nil {
			return nil, fault.Permanentf("the body is %v", err)
		}
		return []object{{raw: b, doc: doc}}, nil
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(b, &raws); err != nil {
		return nil, fault.Permanentf("the body is not valid JSON: %v", err)
	}
	switch {
	case len(raws) == 0:
		return nil, fault.Permanentf("the body is an empty array")
	case len(raws) > MaxEventsPerRequest:
		return nil, fault.Permanentf("the body holds %d objects; the limit is %d per request", len(raws), MaxEventsPerRequest)
	}
	out := make([]object, 0, len(raws))
	for i, raw := range raws {
		doc, err := decodeObject(raw)
		if err != nil {
			return nil, fault.Permanentf("array element %d is %v", i, err)
		}
		out = append(out, object{raw: bytes.TrimSpace(raw), doc: doc})
	}
	return out, nil
}

// decodeObject decodes exactly one JSON object, numbers as json.Number.
func decodeObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("not one JSON value: something follows it")
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s, not a JSON object", schema.JSONKind(v))
	}
	return doc, nil
}

// check maps doc to a row of t as the consumer will (the same compiled
// mapper into a columnar batch), so that a request is refused now (400,
// naming the field) rather than accepted and later dead-lettered.
func check(t *schema.Table, doc map[string]any, headers map[string]string, now time.Time) error {
	c, err := checkerOf(t)
	if err != nil {
		return err
	}
	return c.check(doc, headers, now)
}

// checkAll checks every object, naming the index of the first bad one.
func checkAll(t *schema.Table, objs []object, headers map[string]string, now time.Time) error {
	c, err := checkerOf(t)
	if err != nil {
		return fault.Permanentf("%v", err)
	}
	for i, o := range objs {
		if err := c.check(o.doc, headers, now); err != nil {
			if len(objs) == 1 {
				return fault.Permanentf("%v", err)
			}
			return fault.Permanentf("object %d: %v", i, err)
		}
	}
	return nil
}

// checker maps objects to rows of one table with the consumer's compiled
// mapper, into a batch of its own that it empties after each row.
type checker struct {
	m *schema.Mapper[*schema.JSONRow]
	b *schema.Batch
}

// mappers holds each webhook table's compiled mapper (*schema.Table →
// *schema.Mapper[*schema.JSONRow]); the tables are few and fixed.
var mappers sync.Map

func checkerOf(t *schema.Table) (checker, error) {
	if m, ok := mappers.Load(t); ok {
		return checker{m: m.(*schema.Mapper[*schema.JSONRow]), b: schema.NewBatch(t)}, nil
	}
	m, err := schema.CompileJSON(t)
	if err != nil {
		return checker{}, err
	}
	mappers.Store(t, m)
	return checker{m: m, b: schema.NewBatch(t)}, nil
}

func (c checker) check(doc map[string]any, headers map[string]string, now time.Time) error {
	if err := checkTimes(c.b.Table, doc); err != nil {
		return err
	}
	defer c.b.Reset()
	return c.m.Append(c.b, &schema.JSONRow{Doc: doc, Headers: headers, MessageID: "check", InsertTime: now})
}

// text returns doc[key] as a string when it is a JSON string or number.
func text(doc map[string]any, key string) string {
	switch v := doc[key].(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}

// maxKeyWord bounds one word of a routing key.
const maxKeyWord = 64

// word turns s into one routing-key word: ASCII letters, digits, '_' and
// '-' are kept, every other character becomes '_'; at most 64 bytes;
// "unknown" when nothing is left. "Video Played" → "Video_Played".
func word(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= maxKeyWord {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if strings.Trim(b.String(), "_") == "" {
		return "unknown"
	}
	return b.String()
}

// words keeps the dots of s, making each part a word (empty parts are
// dropped): "payment.success" stays, "course enrolled" → "course_enrolled".
// At most 4 words.
func words(s string) string {
	var parts []string
	for p := range strings.SplitSeq(s, ".") {
		if strings.TrimSpace(p) == "" {
			continue
		}
		parts = append(parts, word(p))
		if len(parts) == 4 {
			break
		}
	}
	if len(parts) == 0 {
		return "unknown"
	}
	return strings.Join(parts, ".")
}

// group is the objects of a request that share a routing key.
type group struct {
	key  string
	objs []object
}

// groupBy splits objs by key, in the order keys first appear.
func groupBy(objs []object, key func(object) string) []group {
	var out []group
	at := map[string]int{}
	for _, o := range objs {
		k := key(o)
		i, ok := at[k]
		if !ok {
			i = len(out)
			at[k] = i
			out = append(out, group{key: k})
		}
		out[i].objs = append(out[i].objs, o)
	}
	return out
}

// message builds one broker message of objs: the object itself when there
// is one, else a JSON array of them (the JSON consumer reads both).
func message(key, id string, objs []object, headers map[string]string) broker.Message {
	var body []byte
	if len(objs) == 1 {
		body = objs[0].raw
	} else {
		n := 2
		for _, o := range objs {
			n += len(o.raw) + 1
		}
		body = make([]byte, 0, n)
		body = append(body, '[')
		for i, o := range objs {
			if i > 0 {
				body = append(body, ',')
			}
			body = append(body, o.raw...)
		}
		body = append(body, ']')
	}
	return broker.Message{ID: id, RoutingKey: key, ContentType: ContentType, Headers: headers, Body: body}
}

// baseHeaders are the headers of every message: when it was accepted
// (x-insert-time, epoch milliseconds) and from which provider (x-source).
func baseHeaders(source string, now time.Time) map[string]string {
	return map[string]string{
		broker.HeaderInsertTime: strconv.FormatInt(now.UnixMilli(), 10),
		HeaderSource:            source,
	}
}

// contentID is a provider's delivery id joined with a digest of what the
// delivery holds: a retry of one delivery keeps its id, while two
// different bodies sent under one id (a provider bug, or a forged id) are
// two messages, and neither is dropped as the other's duplicate.
func contentID(id string, body []byte) string {
	if id == "" {
		return ""
	}
	sum := sha256.Sum256(body)
	return id + "." + hex.EncodeToString(sum[:8])
}

func cloneHeaders(h map[string]string) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[k] = v
	}
	return out
}
