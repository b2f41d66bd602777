package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/structpb"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
)

// Properties are the free-form properties of a call, or the traits of a
// user or group: any value encoding/json can encode (strings, numbers,
// booleans, nil, nested maps and slices, structs with json tags). They
// are stored as JSON.
type Properties = map[string]any

// Option sets a field of one generic call.
type Option func(*callOptions)

type callOptions struct {
	userID, anonymousID, messageID, category string
	context, integrations                    Properties
	timestamp                                time.Time
}

// WithUserID sets the call's user, over the identified one.
func WithUserID(id string) Option { return func(o *callOptions) { o.userID = id } }

// WithAnonymousID sets the call's anonymous id, over the client's.
func WithAnonymousID(id string) Option { return func(o *callOptions) { o.anonymousID = id } }

// WithMessageID sets the event id (default: a UUIDv7 minted by the call);
// the service stores one row per id.
func WithMessageID(id string) Option { return func(o *callOptions) { o.messageID = id } }

// WithTimestamp sets when the event happened (default: now).
func WithTimestamp(t time.Time) Option { return func(o *callOptions) { o.timestamp = t } }

// WithEventContext sets the event's context (library, page, device, os,
// locale, campaign, ...), stored as JSON.
func WithEventContext(ctx Properties) Option { return func(o *callOptions) { o.context = ctx } }

// WithIntegrations sets which downstream destinations the event is meant
// for, kept as sent.
func WithIntegrations(v Properties) Option { return func(o *callOptions) { o.integrations = v } }

// WithCategory sets the category of a Page or Screen call.
func WithCategory(c string) Option { return func(o *callOptions) { o.category = c } }

// TrackEvent records that the user did something: name (required, e.g.
// "Order Completed") with free-form properties. Like Track, it never
// blocks; it returns an error for bad input (naming the problem) or when
// the event was dropped.
func (c *Client) TrackEvent(name string, properties Properties, opts ...Option) error {
	if name == "" {
		return errors.New("event-grpc client: TrackEvent: name is required")
	}
	props, err := toStruct("properties", properties)
	if err != nil {
		return err
	}
	return c.generic(&eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_TrackEvent{TrackEvent: &eventgrpcv1.TrackEvent{Name: name, Properties: props}}}, "", opts)
}

// Identify says who the user is (userID, required) and what is known about
// them (traits). The user id is remembered (in StateDir too) for the
// calls that follow, until Reset or the next Identify.
func (c *Client) Identify(userID string, traits Properties, opts ...Option) error {
	if userID == "" {
		return errors.New("event-grpc client: Identify: userID is required")
	}
	t, err := toStruct("traits", traits)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.optedOut { // nothing about the user is kept either
		c.stats.OptedOut++
		c.mu.Unlock()
		c.debug("opted out: event not tracked")
		return nil
	}
	changed := c.userID != userID
	c.userID = userID
	c.mu.Unlock()
	if changed {
		c.saveState()
	}
	return c.generic(&eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_IdentifyEvent{IdentifyEvent: &eventgrpcv1.IdentifyEvent{Traits: t}}}, userID, opts)
}

// Page records a web page view: name (optional) and free-form properties
// (url, path, referrer, title, ...); WithCategory sets its category.
func (c *Client) Page(name string, properties Properties, opts ...Option) error {
	props, err := toStruct("properties", properties)
	if err != nil {
		return err
	}
	o := options(opts)
	return c.generic(&eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_PageEvent{PageEvent: &eventgrpcv1.PageEvent{Name: name, Category: o.category, Properties: props}}}, "", opts)
}

// Screen records an app screen view: name (optional) and free-form
// properties; WithCategory sets its category.
func (c *Client) Screen(name string, properties Properties, opts ...Option) error {
	props, err := toStruct("properties", properties)
	if err != nil {
		return err
	}
	o := options(opts)
	return c.generic(&eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_ScreenEvent{ScreenEvent: &eventgrpcv1.ScreenEvent{Name: name, Category: o.category, Properties: props}}}, "", opts)
}

// Group says the user belongs to a group (groupID, required: a company,
// team or account) with the group's traits.
func (c *Client) Group(groupID string, traits Properties, opts ...Option) error {
	if groupID == "" {
		return errors.New("event-grpc client: Group: groupID is required")
	}
	t, err := toStruct("traits", traits)
	if err != nil {
		return err
	}
	return c.generic(&eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_GroupEvent{GroupEvent: &eventgrpcv1.GroupEvent{GroupId: groupID, Traits: t}}}, "", opts)
}

// Alias says userID (required) is the same user as previousID; an empty
// previousID is the client's current identity (the identified user, else
// the anonymous id). The identity is not changed: call Identify for that.
func (c *Client) Alias(userID, previousID string, opts ...Option) error {
	if userID == "" {
		return errors.New("event-grpc client: Alias: userID is required")
	}
	if previousID == "" {
		c.mu.Lock()
		previousID = c.userID
		if previousID == "" {
			previousID = c.anonID
		}
		c.mu.Unlock()
	}
	if previousID == userID {
		return fmt.Errorf("event-grpc client: Alias: previousID is userID (%q); nothing to alias", userID)
	}
	return c.generic(&eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_AliasEvent{AliasEvent: &eventgrpcv1.AliasEvent{PreviousId: previousID}}}, userID, opts)
}

// Reset forgets the identified user and starts a new anonymous id (kept in
// StateDir too): call it at logout.
func (c *Client) Reset() {
	c.mu.Lock()
	c.userID = ""
	c.anonID = newAnonymousID()
	c.mu.Unlock()
	c.saveState()
}

func newAnonymousID() string { return uuid.NewString() }

// UserID is the identified user id ("" before Identify or after Reset).
func (c *Client) UserID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.userID
}

// AnonymousID is the client's anonymous id, sent with every generic call.
func (c *Client) AnonymousID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.anonID
}

// SetOptOut switches tracking off (true) or back on. While opted out,
// Track and the generic calls track nothing (they return nil and count
// Stats().OptedOut), and what is queued is dropped unsent (counted,
// reported; a request already in flight completes). The choice is kept in
// StateDir.
func (c *Client) SetOptOut(out bool) {
	c.mu.Lock()
	changed := c.optedOut != out
	c.optedOut = out
	c.mu.Unlock()
	if !changed {
		return
	}
	c.info("opt-out switched", "optedOut", out)
	c.saveState()
	c.poke()
}

// OptedOut reports whether tracking is switched off.
func (c *Client) OptedOut() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.optedOut
}

func options(opts []Option) callOptions {
	var o callOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// generic fills ev's identity and options and tracks it; defaultUser is the
// call's own user (Identify, Alias), over the identified one.
func (c *Client) generic(ev *eventgrpcv1.Event, defaultUser string, opts []Option) error {
	c.mu.Lock()
	out := c.optedOut
	if out {
		c.stats.OptedOut++
	}
	user, anon := c.userID, c.anonID
	c.mu.Unlock()
	if out {
		c.debug("opted out: event not tracked")
		return nil
	}
	o := options(opts)
	if defaultUser != "" {
		user = defaultUser
	}
	if o.userID != "" {
		user = o.userID
	}
	if o.anonymousID != "" {
		anon = o.anonymousID
	}
	ev.UserId, ev.AnonymousId, ev.Id = user, anon, o.messageID
	if !o.timestamp.IsZero() {
		ev.Timestamp = strconv.FormatInt(o.timestamp.UnixMilli(), 10)
	}
	var err error
	if ev.Context, err = toStruct("context", o.context); err != nil {
		return err
	}
	if ev.Integrations, err = toStruct("integrations", o.integrations); err != nil {
		return err
	}
	return c.enqueue(ev)
}

// toStruct converts free-form values to a Struct: directly for the JSON
// types, through encoding/json for the rest (typed slices and maps,
// structs); nil stays nil.
func toStruct(what string, m Properties) (*structpb.Struct, error) {
	if m == nil {
		return nil, nil
	}
	if s, err := structpb.NewStruct(m); err == nil {
		return s, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("event-grpc client: %s cannot be encoded as JSON: %w", what, err)
	}
	var generic map[string]any
	if err := json.Unmarshal(b, &generic); err != nil {
		return nil, fmt.Errorf("event-grpc client: %s: %w", what, err)
	}
	s, err := structpb.NewStruct(generic)
	if err != nil {
		return nil, fmt.Errorf("event-grpc client: %s: %w", what, err)
	}
	return s, nil
}
