package webhook

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/schema"
)

// MaxShortString is the longest string an AMQP 0-9-1 frame carries as a
// short string: routing keys, the message id, header (table field) names.
// A longer one makes the client library close the whole connection
// ("shortstr exceeds 255 bytes"), failing every publish in flight, so the
// webhook refuses it at the edge with 400. Header values are held to the
// same bound, so what one broker carries every broker carries.
const MaxShortString = 255

// checkFrames refuses a request whose messages carry a string the broker
// cannot frame. keyFrom names where the provider's routing key comes from
// (a JSON field) and idFrom where its message id does, for the error.
func checkFrames(p parsed, keyFrom, idFrom string) error {
	for _, m := range p.msgs {
		if n := len(m.RoutingKey); n > MaxShortString {
			return fault.Permanentf("%s makes a routing key of %d bytes (%.40q…); the broker's limit is %d bytes", keyFrom, n, m.RoutingKey, MaxShortString)
		}
		if n := len(m.ID); n > MaxShortString {
			return fault.Permanentf("%s is %d bytes; the broker's limit for a message id is %d bytes", idFrom, n, MaxShortString)
		}
		for k, v := range m.Headers {
			if n := len(k); n > MaxShortString {
				return fault.Permanentf("header name %.40q… is %d bytes; the broker's limit is %d bytes", k, n, MaxShortString)
			}
			if n := len(v); n > MaxShortString {
				return fault.Permanentf("header %s is %d bytes; the broker's limit is %d bytes", k, n, MaxShortString)
			}
		}
	}
	return nil
}

// maxEpochMillis is the first millisecond of the year 10000, the end of
// every store's time range.
const maxEpochMillis = 253402300800000

// checkTimes refuses a time column whose value is a number that is no
// time: not finite (a string "NaN", "Inf"), negative, or beyond the year
// 9999 in epoch milliseconds (1e30), which the mapping would otherwise
// turn into an overflowed time. It names the field.
func checkTimes(t *schema.Table, doc map[string]any) error {
	for _, c := range t.Columns {
		if c.Type != schema.DateTime && c.Type != schema.Date {
			continue
		}
		for path := range strings.SplitSeq(c.From, "|") {
			path = strings.TrimPrefix(path, "$.")
			if strings.Contains(path, ":") || strings.HasPrefix(path, "meta.") || strings.HasPrefix(path, "header.") || strings.HasPrefix(path, "$") {
				continue
			}
			v, ok := lookup(doc, path)
			if !ok {
				continue
			}
			if err := checkTime(v); err != nil {
				return fault.Permanentf("%s: %v", path, err)
			}
		}
	}
	return nil
}

func lookup(doc map[string]any, path string) (any, bool) {
	var cur any = doc
	for p := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func checkTime(v any) error {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = strings.TrimSpace(x)
		if _, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return nil
		}
	case float64:
		s = strconv.FormatFloat(x, 'g', -1, 64)
	default:
		return nil // the mapping names what else is wrong
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return errNotTime(s, "out of range")
		}
		return nil // not a number: a time layout, checked by the mapping
	}
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return errNotTime(s, "not a finite number")
	case f < 0:
		return errNotTime(s, "before 1970")
	case f >= maxEpochMillis:
		return errNotTime(s, "beyond the year 9999 even in epoch milliseconds")
	}
	return nil
}

func errNotTime(s, why string) error {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return fault.Permanentf("%q is not a time: %s (want epoch seconds or milliseconds, or RFC 3339)", s, why)
}
