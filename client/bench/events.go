package bench

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
)

// PoolSize is the number of pre-built events each dispatch samples from.
const PoolSize = 4096

// typeWeights is the relative frequency of each payload type, shaped like
// app analytics: views and clicks dominate, commerce and streams are
// rarer. A type not listed has defaultWeight.
var typeWeights = map[string]float64{
	"PageOpenedEvent":           14,
	"WidgetViewEvent":           14,
	"PageLoadedEvent":           12,
	"WidgetElementViewEvent":    12,
	"ClickEvent":                8,
	"WidgetElementClickedEvent": 6,
	"ProductViewedEvent":        5,
	"BannerViewEvent":           4,
	"WidgetCtaClickedEvent":     3,
	"SearchEvent":               2,
	"SearchResultClickEvent":    1.5,
	"CategoryViewedEvent":       1.5,
	"VideoPlayEvent":            1.5,
	"BannerClickEvent":          1,
	"VideoPauseEvent":           1,
	"AppForegroundEvent":        1,
	"AppBackgroundEvent":        1,
	"AddToCartEvent":            1,
	"CustomEvent":               1,
	"SocialStreamActionEvent":   0.8,
	"StreamEnterEvent":          0.8,
	"StreamLikeEvent":           0.8,
	"SocialStreamEnterEvent":    0.6,
	"LikeEvent":                 0.6,
	"CartViewedEvent":           0.5,
	"StreamExitEvent":           0.5,
	"StreamCommentEvent":        0.4,
	"LaunchEvent":               0.4,
	"AppStartEvent":             0.4,
	"NotificationReceivedEvent": 0.4,
	"CheckoutStartedEvent":      0.2,
	"InitiatePurchaseEvent":     0.15,
	"CompletePurchaseEvent":     0.1,
	"OrderPlacedEvent":          0.1,
	"PurchaseFailedEvent":       0.03,
	"InitiateReview":            0.05,
	"EnterReviewScreen":         0.05,
	"SubmitReview":              0.04,
	"ViewAllReviews":            0.1,
	"ExpandReviewImage":         0.05,
	"TestEvent":                 0.01,
}

const defaultWeight = 0.15

// eventOf describes Event's payload oneof.
var eventOf = (&eventgrpcv1.Event{}).ProtoReflect().Descriptor().Oneofs().ByName("eventOf")

// pool is the read-only synthetic data a run samples from; it is shared by
// all workers and never changed after newPool.
type pool struct {
	users  []*eventgrpcv1.Header
	events []*eventgrpcv1.Event // payload set; id and timestamp empty
	// badCustom is a CustomEvent whose name the service must refuse.
	badCustom *eventgrpcv1.Event
	// gaps lists payload fields the vocabulary has no values for (they got
	// generic ones); the tests require it to be empty.
	gaps []string
}

// newPool builds the users and events of a run from seed. Every payload
// type appears at least once; the rest follow typeWeights.
func newPool(seed uint64, clientID string, now time.Time) (*pool, error) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	cat := newCatalog(r)
	p := &pool{users: newUsers(r, UserCount, clientID)}
	gaps := map[string]bool{}

	fields := eventOf.Fields()
	cum := make([]float64, fields.Len())
	total := 0.0
	for i := range cum {
		w, ok := typeWeights[string(fields.Get(i).Message().Name())]
		if !ok {
			w = defaultWeight
		}
		total += w
		cum[i] = total
	}
	nowMs := now.UnixMilli()
	for i := 0; i < PoolSize; i++ {
		fi := i
		if i >= fields.Len() {
			x := r.Float64() * total
			fi = 0
			for fi < len(cum)-1 && cum[fi] <= x {
				fi++
			}
		}
		fd := fields.Get(fi)
		ev := &eventgrpcv1.Event{}
		m := ev.ProtoReflect().Mutable(fd).Message()
		s := newScene(r, cat, string(fd.Message().Name()), nowMs)
		if err := fill(m, s, gaps); err != nil {
			return nil, err
		}
		p.events = append(p.events, ev)
	}
	for g := range gaps {
		p.gaps = append(p.gaps, g)
	}
	p.badCustom = &eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_CustomEvent{CustomEvent: &eventgrpcv1.CustomEvent{
		Name: "not a valid name!", Params: map[string]string{"k": "v"},
	}}}
	return p, nil
}

// fill sets the fields of payload m from the vocabulary. Fields with no
// vocabulary entry get a generic value and are recorded in gaps.
func fill(m protoreflect.Message, s *scene, gaps map[string]bool) error {
	md := m.Descriptor()
	msg := string(md.Name())
	for i := 0; i < md.Fields().Len(); i++ {
		f := md.Fields().Get(i)
		fn := vocabulary[msg+"."+string(f.Name())]
		if fn == nil {
			fn = vocabulary[string(f.Name())]
		}
		var v any
		if fn != nil {
			v = fn(s)
		} else {
			gaps[msg+"."+string(f.Name())] = true
			v = generic(f, s)
		}
		if v == nil {
			continue
		}
		if err := set(m, f, v); err != nil {
			return fmt.Errorf("bench: %s.%s: %w", msg, f.Name(), err)
		}
	}
	return nil
}

// generic is a value of the right kind for a field the vocabulary lacks.
func generic(f protoreflect.FieldDescriptor, s *scene) any {
	switch {
	case f.IsMap() || f.Kind() == protoreflect.MessageKind:
		return nil
	case f.Kind() == protoreflect.StringKind && f.IsList():
		return []string{string(f.Name()) + "_" + base62(s.r, 6)}
	case f.Kind() == protoreflect.StringKind:
		return string(f.Name()) + "_" + base62(s.r, 6)
	case f.Kind() == protoreflect.BoolKind:
		return chance(s.r, 0.5)
	case f.Kind() == protoreflect.DoubleKind || f.Kind() == protoreflect.FloatKind:
		return money(s.r.Float64() * 100)
	default:
		return between(s.r, 1, 100)
	}
}

// set stores v in field f of m, checking that the value fits the field.
func set(m protoreflect.Message, f protoreflect.FieldDescriptor, v any) error {
	mismatch := fmt.Errorf("value %T does not fit a %s field", v, f.Kind())
	if f.IsList() {
		l := m.Mutable(f).List()
		switch x := v.(type) {
		case []string:
			if f.Kind() != protoreflect.StringKind {
				return mismatch
			}
			for _, e := range x {
				l.Append(protoreflect.ValueOfString(e))
			}
		case []*eventgrpcv1.FilterAppliedEvent_Filter:
			if f.Kind() != protoreflect.MessageKind || f.Message().FullName() != (&eventgrpcv1.FilterAppliedEvent_Filter{}).ProtoReflect().Descriptor().FullName() {
				return mismatch
			}
			for _, e := range x {
				l.Append(protoreflect.ValueOfMessage(e.ProtoReflect()))
			}
		default:
			return mismatch
		}
		return nil
	}
	if f.IsMap() {
		x, ok := v.(map[string]string)
		if !ok || f.MapKey().Kind() != protoreflect.StringKind || f.MapValue().Kind() != protoreflect.StringKind {
			return mismatch
		}
		mp := m.Mutable(f).Map()
		for k, e := range x {
			mp.Set(protoreflect.ValueOfString(k).MapKey(), protoreflect.ValueOfString(e))
		}
		return nil
	}
	var pv protoreflect.Value
	switch x := v.(type) {
	case *structpb.Struct:
		if f.Kind() != protoreflect.MessageKind || f.Message().FullName() != x.ProtoReflect().Descriptor().FullName() {
			return mismatch
		}
		pv = protoreflect.ValueOfMessage(x.ProtoReflect())
	case string:
		if f.Kind() != protoreflect.StringKind {
			return mismatch
		}
		pv = protoreflect.ValueOfString(x)
	case bool:
		if f.Kind() != protoreflect.BoolKind {
			return mismatch
		}
		pv = protoreflect.ValueOfBool(x)
	case int64:
		switch f.Kind() {
		case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
			pv = protoreflect.ValueOfInt64(x)
		case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
			pv = protoreflect.ValueOfInt32(int32(x))
		default:
			return mismatch
		}
	case float64:
		switch f.Kind() {
		case protoreflect.DoubleKind:
			pv = protoreflect.ValueOfFloat64(x)
		case protoreflect.FloatKind:
			pv = protoreflect.ValueOfFloat32(float32(x))
		default:
			return mismatch
		}
	default:
		return mismatch
	}
	m.Set(f, pv)
	return nil
}

// builder makes the requests of one worker. It reuses one Events message
// and its events: a request is valid until the next build, which is after
// the call that sent it returned. Not safe for concurrent use.
type builder struct {
	pool     *pool
	r        *rand.Rand
	poison   float64
	emptyIDs bool
	req      eventgrpcv1.Events
	backing  []eventgrpcv1.Event
	// poisoned is the number of events of the last request made invalid.
	poisoned int
}

func newBuilder(p *pool, r *rand.Rand, batch int, poison float64, emptyIDs bool) *builder {
	b := &builder{pool: p, r: r, poison: poison, emptyIDs: emptyIDs, backing: make([]eventgrpcv1.Event, batch)}
	b.req.Events = make([]*eventgrpcv1.Event, batch)
	for i := range b.backing {
		b.req.Events[i] = &b.backing[i]
	}
	return b
}

// build fills the reused request with a random user's header and a sample
// of the pool, each event with a fresh id (unless emptyIDs) and now as its
// timestamp. Payloads are shared with the pool, read-only.
func (b *builder) build(now time.Time) *eventgrpcv1.Events {
	ms := now.UnixMilli()
	ts := strconv.FormatInt(ms, 10)
	b.req.Header = b.pool.users[b.r.IntN(len(b.pool.users))]
	b.poisoned = 0
	for i := range b.backing {
		ev := &b.backing[i]
		ev.EventOf = b.pool.events[b.r.IntN(len(b.pool.events))].EventOf
		ev.Timestamp = ts
		if b.emptyIDs {
			ev.Id = ""
		} else {
			ev.Id = newUUIDv7(b.r, ms)
		}
		if b.poison > 0 && b.r.Float64() < b.poison {
			b.poisoned++
			b.spoil(ev)
		}
	}
	return &b.req
}

// spoil makes ev invalid in one of the ways the service must reject one
// event for: no payload, a timestamp that is not epoch milliseconds, a
// CustomEvent with an unusable name.
func (b *builder) spoil(ev *eventgrpcv1.Event) {
	switch b.r.IntN(3) {
	case 0:
		ev.EventOf = nil
	case 1:
		ev.Timestamp = "yesterday"
	default:
		ev.EventOf = b.pool.badCustom.EventOf
	}
}

// newUUIDv7 returns a UUIDv7 (RFC 9562) for time ms with random bits
// from r, without the global lock of uuid.NewV7.
func newUUIDv7(r *rand.Rand, ms int64) string {
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[8:], r.Uint64())
	hi := r.Uint64()
	u[0] = byte(ms >> 40)
	u[1] = byte(ms >> 32)
	u[2] = byte(ms >> 24)
	u[3] = byte(ms >> 16)
	u[4] = byte(ms >> 8)
	u[5] = byte(ms)
	u[6] = 0x70 | byte(hi&0x0f) // version 7
	u[7] = byte(hi >> 8)
	u[8] = 0x80 | (u[8] & 0x3f) // variant 10
	return u.String()
}
