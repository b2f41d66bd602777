package bench

import (
	"math/rand/v2"
	"sort"
	"strconv"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
)

func TestVocabularyCoversEveryPayloadField(t *testing.T) {
	p, err := newPool(1, "", time.Now())
	if err != nil {
		t.Fatalf("newPool: %v", err)
	}
	if len(p.gaps) > 0 {
		sort.Strings(p.gaps)
		t.Errorf("payload fields without vocabulary (add them to vocabulary.go): %v", p.gaps)
	}
	// Every vocabulary key names a real field, so a renamed field does not
	// silently fall back to another entry.
	known := map[string]bool{}
	fields := eventOf.Fields()
	for i := 0; i < fields.Len(); i++ {
		md := fields.Get(i).Message()
		for j := 0; j < md.Fields().Len(); j++ {
			f := md.Fields().Get(j)
			known[string(md.Name())+"."+string(f.Name())] = true
			known[string(f.Name())] = true
		}
	}
	for k := range vocabulary {
		if !known[k] {
			t.Errorf("vocabulary key %q matches no payload field", k)
		}
	}
}

func TestEveryPayloadFieldGetsFilled(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	cat := newCatalog(r)
	fields := eventOf.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		name := string(fd.Message().Name())
		t.Run(name, func(t *testing.T) {
			set := map[string]bool{}
			for n := 0; n < 300; n++ {
				ev := &eventgrpcv1.Event{}
				m := ev.ProtoReflect().Mutable(fd).Message()
				if err := fill(m, newScene(r, cat, name, time.Now().UnixMilli()), map[string]bool{}); err != nil {
					t.Fatalf("fill: %v", err)
				}
				m.Range(func(f protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
					set[string(f.Name())] = true
					return true
				})
			}
			md := fd.Message()
			for j := 0; j < md.Fields().Len(); j++ {
				if f := md.Fields().Get(j); !set[string(f.Name())] {
					t.Errorf("%s.%s never got a value in 300 events", name, f.Name())
				}
			}
		})
	}
}

func TestPoolMixIsSkewed(t *testing.T) {
	p, err := newPool(5, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.events) != PoolSize {
		t.Fatalf("pool has %d events, want %d", len(p.events), PoolSize)
	}
	count := map[string]int{}
	for _, ev := range p.events {
		count[string(ev.ProtoReflect().WhichOneof(eventOf).Message().Name())]++
	}
	if len(count) != eventOf.Fields().Len() {
		t.Errorf("pool holds %d event types, the proto has %d", len(count), eventOf.Fields().Len())
	}
	views := count["PageOpenedEvent"] + count["PageLoadedEvent"] + count["WidgetViewEvent"] + count["WidgetElementViewEvent"] + count["ClickEvent"]
	if share := float64(views) / PoolSize; share < 0.35 || share > 0.7 {
		t.Errorf("page/widget views and clicks are %.2f of the pool, want them to dominate (0.35..0.7)", share)
	}
	if count["AddToCartEvent"]*5 > count["PageOpenedEvent"] {
		t.Errorf("AddToCartEvent=%d is not rarer than PageOpenedEvent=%d", count["AddToCartEvent"], count["PageOpenedEvent"])
	}
	if count["CompletePurchaseEvent"] > count["AddToCartEvent"] {
		t.Errorf("CompletePurchaseEvent=%d more common than AddToCartEvent=%d", count["CompletePurchaseEvent"], count["AddToCartEvent"])
	}
	if c := count["CustomEvent"]; c < 10 || c > 150 {
		t.Errorf("CustomEvent=%d, want a few", c)
	}
}

func TestUsersHaveFullConsistentHeaders(t *testing.T) {
	for _, clientID := range []string{"", "bench-client"} {
		users := newUsers(rand.New(rand.NewPCG(9, 9)), UserCount, clientID)
		if len(users) != UserCount {
			t.Fatalf("%d users", len(users))
		}
		sessions := map[string]bool{}
		userIDs := map[string]bool{}
		for _, h := range users {
			md := h.ProtoReflect().Descriptor()
			if md.Fields().Len() != 24 {
				t.Fatalf("Header has %d fields; the generator fills 24", md.Fields().Len())
			}
			for i := 0; i < md.Fields().Len(); i++ {
				if f := md.Fields().Get(i); !h.ProtoReflect().Has(f) {
					t.Fatalf("header field %s empty: %v", f.Name(), h)
				}
			}
			if clientID != "" && h.GetClientId() != clientID {
				t.Errorf("clientId %q, want %q", h.GetClientId(), clientID)
			}
			if (h.GetClientType() == "android" || h.GetClientType() == "ios") != (h.GetChannel() == "app") {
				t.Errorf("clientType %q with channel %q", h.GetClientType(), h.GetChannel())
			}
			sessions[h.GetSessionId()] = true
			userIDs[h.GetUserId()] = true
		}
		if len(sessions) != UserCount || len(userIDs) != UserCount {
			t.Errorf("%d distinct sessions, %d distinct users, want %d each", len(sessions), len(userIDs), UserCount)
		}
	}
}

func TestBuilder(t *testing.T) {
	p, err := newPool(2, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(1_718_000_000_123)
	for _, tt := range []struct {
		name     string
		poison   float64
		emptyIDs bool
	}{
		{"clean", 0, false},
		{"empty ids", 0, true},
		{"all poisoned", 1, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := newBuilder(p, rand.New(rand.NewPCG(1, 2)), 200, tt.poison, tt.emptyIDs)
			seen := map[string]bool{}
			for round := 0; round < 3; round++ {
				req := b.build(now)
				if req.GetHeader() == nil || len(req.GetEvents()) != 200 {
					t.Fatalf("header %v, %d events", req.GetHeader(), len(req.GetEvents()))
				}
				if _, err := proto.Marshal(req); err != nil {
					t.Fatalf("marshal: %v", err)
				}
				invalid := 0
				for _, ev := range req.GetEvents() {
					switch {
					case tt.emptyIDs && ev.GetId() != "":
						t.Fatalf("id %q, want empty", ev.GetId())
					case !tt.emptyIDs:
						u, err := uuid.Parse(ev.GetId())
						if err != nil || u.Version() != 7 || u.Variant() != uuid.RFC4122 {
							t.Fatalf("id %q is not a UUIDv7: %v", ev.GetId(), err)
						}
						if sec, _ := u.Time().UnixTime(); sec != now.Unix() {
							t.Fatalf("id %s carries time %d, want %d", u, sec, now.Unix())
						}
						if seen[ev.GetId()] {
							t.Fatalf("id %s repeated", ev.GetId())
						}
						seen[ev.GetId()] = true
					}
					_, tsErr := strconv.ParseInt(ev.GetTimestamp(), 10, 64)
					bad := ev.GetEventOf() == nil || tsErr != nil ||
						(ev.GetCustomEvent() != nil && !testCustomName.MatchString(ev.GetCustomEvent().GetName()))
					if bad {
						invalid++
					} else if ev.GetTimestamp() != "1718000000123" {
						t.Fatalf("timestamp %q, want now in epoch ms", ev.GetTimestamp())
					}
				}
				if invalid != b.poisoned {
					t.Errorf("%d invalid events, builder says %d poisoned", invalid, b.poisoned)
				}
				if want := int(tt.poison * 200); invalid != want {
					t.Errorf("%d invalid events, want %d", invalid, want)
				}
			}
		})
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	if h.quantile(0.5) != 0 {
		t.Fatal("empty histogram has a median")
	}
	// 1..1000 ms, shuffled.
	r := rand.New(rand.NewPCG(1, 1))
	for _, i := range r.Perm(1000) {
		h.record(time.Duration(i+1) * time.Millisecond)
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{
		{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {0.001, time.Millisecond}, {1, 1000 * time.Millisecond},
	} {
		got := h.quantile(tt.q)
		if d := float64(got-tt.want) / float64(tt.want); d < -0.02 || d > 0.02 {
			t.Errorf("q%.3f = %v, want %v ± 2%%", tt.q, got, tt.want)
		}
	}
	var merged histogram
	merged.record(3 * time.Second)
	merged.merge(&h)
	if merged.n != 1001 || time.Duration(merged.max) != 3*time.Second {
		t.Errorf("merged n=%d max=%v", merged.n, time.Duration(merged.max))
	}
	// Buckets are contiguous and ordered.
	for v := uint64(0); v < 1<<20; v += 7 {
		if bucketOf(v+7) < bucketOf(v) {
			t.Fatalf("bucketOf not monotonic at %d", v)
		}
		if mid := bucketValue(bucketOf(v)); v >= 64 && (float64(mid) < float64(v)*0.98 || float64(mid) > float64(v)*1.02) {
			t.Fatalf("value %d lands in a bucket around %d", v, mid)
		}
	}
	if bucketOf(^uint64(0)) >= nBuckets {
		t.Fatal("largest value out of range")
	}
}

func TestCodeName(t *testing.T) {
	for c, want := range map[uint32]string{1: "CANCELLED", 4: "DEADLINE_EXCEEDED", 8: "RESOURCE_EXHAUSTED", 14: "UNAVAILABLE", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 0: "OK",
		5: "NOT_FOUND", 6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 9: "FAILED_PRECONDITION", 10: "ABORTED", 11: "OUT_OF_RANGE",
		12: "UNIMPLEMENTED", 13: "INTERNAL", 15: "DATA_LOSS", 16: "UNAUTHENTICATED"} {
		if got := codeName(connect.Code(c)); got != want {
			t.Errorf("codeName(%d) = %q, want %q", c, got, want)
		}
	}
}

func BenchmarkBuildAndMarshal(b *testing.B) {
	p, err := newPool(1, "", time.Now())
	if err != nil {
		b.Fatal(err)
	}
	bl := newBuilder(p, rand.New(rand.NewPCG(1, 2)), DefaultBatch, 0, false)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := proto.Marshal(bl.build(time.Now())); err != nil {
			b.Fatal(err)
		}
	}
}
