package segment

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/structpb"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
)

// The Segment API's size limits.
const (
	// MaxMessageBytes bounds one message (a call's body, or one element of
	// a batch): 32 KB, as Segment's.
	MaxMessageBytes = 32 << 10
	// MaxBatchBytes bounds a request body, decompressed: 500 KB, as
	// Segment's.
	MaxBatchBytes = 500 << 10
)

// Calls of the Segment spec, as the "type" of a message.
const (
	CallTrack    = "track"
	CallIdentify = "identify"
	CallPage     = "page"
	CallScreen   = "screen"
	CallGroup    = "group"
	CallAlias    = "alias"
)

// Parsed is a request's messages as events.
type Parsed struct {
	// WriteKey is the body's writeKey (analytics.js sends it there), or "".
	WriteKey string
	// Total is the number of messages in the request.
	Total int
	// Events are the valid messages, in request order; Index[i] is the
	// position of Events[i] in the request.
	Events []*eventgrpcv1.Event
	Index  []int
	// Errors are the invalid messages, each with what is wrong.
	Errors []MessageError
}

// MessageError is one message that could not be taken.
type MessageError struct {
	Index     int    `json:"index"`
	MessageID string `json:"messageId,omitempty"`
	Error     string `json:"error"`
}

// message is one Segment message. Id-like fields are raw so that a number
// is taken as well as a string; objects are raw so that they are decoded
// once, into the Struct.
type message struct {
	Type         string          `json:"type"`
	MessageID    json.RawMessage `json:"messageId"`
	UserID       json.RawMessage `json:"userId"`
	AnonymousID  json.RawMessage `json:"anonymousId"`
	Timestamp    json.RawMessage `json:"timestamp"`
	SentAt       json.RawMessage `json:"sentAt"`
	Context      json.RawMessage `json:"context"`
	Integrations json.RawMessage `json:"integrations"`
	Event        json.RawMessage `json:"event"`
	Name         json.RawMessage `json:"name"`
	Category     json.RawMessage `json:"category"`
	Properties   json.RawMessage `json:"properties"`
	Traits       json.RawMessage `json:"traits"`
	GroupID      json.RawMessage `json:"groupId"`
	PreviousID   json.RawMessage `json:"previousId"`
	WriteKey     json.RawMessage `json:"writeKey"`
}

// batch is the body of /v1/batch: the messages and what they share.
type batch struct {
	Batch        []json.RawMessage `json:"batch"`
	Context      json.RawMessage   `json:"context"`
	Integrations json.RawMessage   `json:"integrations"`
	SentAt       json.RawMessage   `json:"sentAt"`
	WriteKey     json.RawMessage   `json:"writeKey"`
}

// Parse reads a request body: one message of call (track, identify, …),
// or, with call "", a batch ({"batch": [...]}, each message naming its
// type). receivedAt is when the request arrived, for the clock-skew
// correction of timestamps: timestamp + (receivedAt - sentAt). The error
// is for the whole request (not JSON, no batch array); a message that is
// wrong is reported in Parsed.Errors and the others are still taken.
func Parse(body []byte, call string, receivedAt time.Time) (*Parsed, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, errors.New("the body must be a JSON object")
	}
	p := &Parsed{}
	if call != "" {
		if len(body) > MaxMessageBytes {
			return nil, fmt.Errorf("the message is %d bytes; the limit is %d (32 KB)", len(body), MaxMessageBytes)
		}
		var m message
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, fmt.Errorf("the body is not valid JSON: %w", err)
		}
		p.Total = 1
		p.WriteKey, _ = text(m.WriteKey)
		sentAt, err := instant(m.SentAt, "sentAt")
		if err != nil {
			return nil, err
		}
		ev, err := toEvent(&m, call, sentAt, receivedAt, nil, nil)
		if err != nil {
			id, _ := text(m.MessageID)
			p.Errors = append(p.Errors, MessageError{Index: 0, MessageID: id, Error: err.Error()})
			return p, nil
		}
		p.Events, p.Index = append(p.Events, ev), append(p.Index, 0)
		return p, nil
	}
	var b batch
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, fmt.Errorf("the body is not a JSON batch ({\"batch\": [...]}): %w", err)
	}
	if b.Batch == nil {
		return nil, errors.New(`the body has no "batch" array of messages`)
	}
	p.Total = len(b.Batch)
	p.WriteKey, _ = text(b.WriteKey)
	sentAt, err := instant(b.SentAt, "sentAt")
	if err != nil {
		return nil, err
	}
	shared, err := object(b.Context, "context")
	if err != nil {
		return nil, err
	}
	sharedInteg, err := object(b.Integrations, "integrations")
	if err != nil {
		return nil, err
	}
	for i, raw := range b.Batch {
		ev, id, err := batchMessage(raw, sentAt, receivedAt, shared, sharedInteg)
		if err != nil {
			p.Errors = append(p.Errors, MessageError{Index: i, MessageID: id, Error: err.Error()})
			continue
		}
		p.Events, p.Index = append(p.Events, ev), append(p.Index, i)
	}
	return p, nil
}

// batchMessage reads one element of a batch; id is its messageId, as far
// as it could be read, for the error.
func batchMessage(raw json.RawMessage, sentAt, receivedAt time.Time, shared, sharedInteg *structpb.Struct) (*eventgrpcv1.Event, string, error) {
	if len(raw) > MaxMessageBytes {
		return nil, "", fmt.Errorf("the message is %d bytes; the limit is %d (32 KB)", len(raw), MaxMessageBytes)
	}
	var m message
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, "", fmt.Errorf("the message is not a JSON object: %w", err)
	}
	id, _ := text(m.MessageID)
	if m.Type == "" {
		return nil, id, errors.New(`the message has no "type" (track, identify, page, screen, group or alias)`)
	}
	if own, err := instant(m.SentAt, "sentAt"); err != nil {
		return nil, id, err
	} else if !own.IsZero() {
		sentAt = own
	}
	ev, err := toEvent(&m, m.Type, sentAt, receivedAt, shared, sharedInteg)
	return ev, id, err
}

// toEvent maps one message of the call to an event.
func toEvent(m *message, call string, sentAt, receivedAt time.Time, shared, sharedInteg *structpb.Struct) (*eventgrpcv1.Event, error) {
	ev := &eventgrpcv1.Event{}
	var err error
	if ev.Id, err = text(m.MessageID); err != nil {
		return nil, fmt.Errorf("messageId: %w", err)
	}
	if ev.UserId, err = text(m.UserID); err != nil {
		return nil, fmt.Errorf("userId: %w", err)
	}
	if ev.AnonymousId, err = text(m.AnonymousID); err != nil {
		return nil, fmt.Errorf("anonymousId: %w", err)
	}
	ts, err := instant(m.Timestamp, "timestamp")
	if err != nil {
		return nil, err
	}
	if !ts.IsZero() {
		if !sentAt.IsZero() {
			ts = ts.Add(receivedAt.Sub(sentAt)) // the client's clock skew
		}
		ev.Timestamp = strconv.FormatInt(ts.UnixMilli(), 10)
	} else {
		ev.Timestamp = strconv.FormatInt(receivedAt.UnixMilli(), 10)
	}
	if ev.Context, err = object(m.Context, "context"); err != nil {
		return nil, err
	}
	ev.Context = merge(shared, ev.Context)
	if ev.Integrations, err = object(m.Integrations, "integrations"); err != nil {
		return nil, err
	}
	ev.Integrations = merge(sharedInteg, ev.Integrations)
	if call != CallAlias && ev.UserId == "" && ev.AnonymousId == "" {
		return nil, fmt.Errorf("a %s needs a userId or an anonymousId", call)
	}
	switch call {
	case CallTrack:
		name, err := text(m.Event)
		if err != nil || name == "" {
			return nil, errors.New(`a track needs "event", the name of the action (a non-empty string)`)
		}
		props, err := object(m.Properties, "properties")
		if err != nil {
			return nil, err
		}
		ev.EventOf = &eventgrpcv1.Event_TrackEvent{TrackEvent: &eventgrpcv1.TrackEvent{Name: name, Properties: props}}
	case CallIdentify:
		traits, err := object(m.Traits, "traits")
		if err != nil {
			return nil, err
		}
		ev.EventOf = &eventgrpcv1.Event_IdentifyEvent{IdentifyEvent: &eventgrpcv1.IdentifyEvent{Traits: traits}}
	case CallPage, CallScreen:
		name, err := text(m.Name)
		if err != nil {
			return nil, fmt.Errorf("name: %w", err)
		}
		cat, err := text(m.Category)
		if err != nil {
			return nil, fmt.Errorf("category: %w", err)
		}
		props, err := object(m.Properties, "properties")
		if err != nil {
			return nil, err
		}
		if call == CallPage {
			ev.EventOf = &eventgrpcv1.Event_PageEvent{PageEvent: &eventgrpcv1.PageEvent{Name: name, Category: cat, Properties: props}}
		} else {
			ev.EventOf = &eventgrpcv1.Event_ScreenEvent{ScreenEvent: &eventgrpcv1.ScreenEvent{Name: name, Category: cat, Properties: props}}
		}
	case CallGroup:
		gid, err := text(m.GroupID)
		if err != nil || gid == "" {
			return nil, errors.New(`a group needs "groupId" (a non-empty string or number)`)
		}
		traits, err := object(m.Traits, "traits")
		if err != nil {
			return nil, err
		}
		ev.EventOf = &eventgrpcv1.Event_GroupEvent{GroupEvent: &eventgrpcv1.GroupEvent{GroupId: gid, Traits: traits}}
	case CallAlias:
		prev, err := text(m.PreviousID)
		if err != nil || prev == "" {
			return nil, errors.New(`an alias needs "previousId" (a non-empty string or number)`)
		}
		if ev.UserId == "" {
			return nil, errors.New(`an alias needs "userId", the id previousId becomes`)
		}
		ev.EventOf = &eventgrpcv1.Event_AliasEvent{AliasEvent: &eventgrpcv1.AliasEvent{PreviousId: prev}}
	default:
		return nil, fmt.Errorf("type %q is not track, identify, page, screen, group or alias", truncate(call, 40))
	}
	return ev, nil
}

// text reads a string, or a number as its JSON text (ids are often
// numbers); absent and null are "".
func text(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	case c == '-' || c >= '0' && c <= '9':
		if !json.Valid(raw) {
			return "", errors.New("not a valid number")
		}
		return string(raw), nil
	}
	return "", fmt.Errorf("must be a string, not %s", kind(raw[0]))
}

// instant reads an ISO-8601 time; absent, null and "" are the zero time.
func instant(raw json.RawMessage, field string) (time.Time, error) {
	s, err := text(raw)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", field, err)
	}
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		if t, err2 := time.Parse("2006-01-02T15:04:05.999999999Z0700", s); err2 == nil {
			return t, nil
		}
		return time.Time{}, fmt.Errorf("%s %q is not an ISO-8601 time (e.g. 2024-05-01T12:00:00.000Z)", field, truncate(s, 40))
	}
	return t, nil
}

// object decodes a JSON object into a Struct; absent and null are nil.
// Numbers become doubles, as JSON's are.
func object(raw json.RawMessage, field string) (*structpb.Struct, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, fmt.Errorf("%s must be a JSON object, not %s", field, kind(raw[0]))
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	s, err := structpb.NewStruct(m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return s, nil
}

// merge returns own with the keys of shared it lacks (a batch's context
// or integrations under each message's own).
func merge(shared, own *structpb.Struct) *structpb.Struct {
	if len(shared.GetFields()) == 0 {
		return own
	}
	if own == nil {
		own = &structpb.Struct{}
	}
	if own.Fields == nil {
		own.Fields = make(map[string]*structpb.Value, len(shared.Fields))
	}
	for k, v := range shared.Fields {
		if _, ok := own.Fields[k]; !ok {
			own.Fields[k] = v
		}
	}
	return own
}

func kind(c byte) string {
	switch c {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case '"':
		return "a string"
	}
	return "that"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
