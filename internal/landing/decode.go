package landing

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/event"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/schema"
)

// insertTime is when ingest accepted the message's events: its
// x-insert-time header, else when the broker took it, else now.
func insertTime(d broker.Delivery) time.Time {
	if ms, err := strconv.ParseInt(d.Headers[broker.HeaderInsertTime], 10, 64); err == nil && ms > 0 {
		return time.UnixMilli(ms).UTC()
	}
	if !d.Published.IsZero() {
		return d.Published.UTC()
	}
	return time.Now().UTC()
}

// eventRows calls fn with the row source of every event of an events
// message (event.Decode), in order. Each event's type comes from the event
// itself (its oneof), never from the message's routing key: a message may
// hold events of several types. An event with no payload is a permanent
// error for the message. row is reused between calls.
func eventRows(d broker.Delivery, row *schema.EventRow, fn func(*schema.EventRow) error) error {
	parts, err := event.Decode(d.Body)
	if err != nil {
		return err
	}
	row.InsertTime = insertTime(d)
	for _, p := range parts {
		row.Header = p.GetHeader() // nil reads as an empty header
		for _, ev := range p.GetEvents() {
			row.Event, row.Type = ev, event.TypeOf(ev)
			if row.Type == event.TypeNone {
				return fault.Permanentf("event %q: %v", ev.GetId(), event.ErrNoEventOf)
			}
			if err := fn(row); err != nil {
				return err
			}
		}
	}
	return nil
}

// jsonRows reads a JSON object, or an array of objects, as other services
// publish them: one row source per object. Unknown fields are ignored; a
// body that is not JSON objects is a permanent error. Each object's
// meta.message_id is derived from what it holds — the hex SHA-256 of the
// queue's name and the object's JSON bytes — so a redelivery of the same
// body dedupes and two different bodies never collapse (a broker message
// id chosen by the publisher, or an object's position in an array, is not
// trusted for that).
func jsonRows(queue string, d broker.Delivery, dst []schema.JSONRow) ([]schema.JSONRow, error) {
	body := bytes.TrimSpace(d.Body)
	var raws []json.RawMessage
	isArray := len(body) > 0 && body[0] == '['
	if isArray {
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, fault.Permanentf("message is not valid JSON: %v", err)
		}
	} else {
		raws = []json.RawMessage{body}
	}
	at := insertTime(d)
	for i, raw := range raws {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fault.Permanentf("message is not valid JSON: %v", err)
		}
		if dec.More() {
			return nil, fault.Permanentf("message holds more than one JSON value")
		}
		doc, ok := v.(map[string]any)
		if !ok {
			if isArray {
				return nil, fault.Permanentf("message array element %d is %s, not a JSON object", i, schema.JSONKind(v))
			}
			return nil, fault.Permanentf("message is %s, not a JSON object or array of objects", schema.JSONKind(v))
		}
		dst = append(dst, schema.JSONRow{Doc: doc, Headers: d.Headers, MessageID: ContentID(queue, raw), InsertTime: at})
	}
	return dst, nil
}

// ContentID is the id of a JSON object that carries none of its own: the
// hex SHA-256 of the queue's name, a zero byte, and the object's bytes.
func ContentID(queue string, raw []byte) string {
	h := sha256.New()
	h.Write([]byte(queue))
	h.Write([]byte{0})
	h.Write(raw)
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

// DecodeJSON reads a JSON message as jsonRows does (with no queue name in
// the ids): one row source per object, for a schema.Mapper of a JSON-fed
// table (schema.CompileJSON).
func DecodeJSON(d broker.Delivery) ([]schema.JSONRow, error) {
	return jsonRows("", d, nil)
}
