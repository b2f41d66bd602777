package pipeline

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/metadata"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/auth"
	"github.com/event-grpc/event-grpc/internal/event"
)

func from(client string, evs ...*eventgrpcv1.Event) *eventgrpcv1.Events {
	return &eventgrpcv1.Events{Header: &eventgrpcv1.Header{ClientId: client}, Events: evs}
}

// TestIdsScopedBySender: the dedupe window keys an id by its sender. With
// no authentication the sender is Header.clientId; an authenticated client
// id replaces whatever clientId the request claims, so a client cannot
// borrow another's scope. Within one scope a different body under a used id
// is a conflict and an identical one a duplicate.
func TestIdsScopedBySender(t *testing.T) {
	rec := &recorder{}
	p, _, _ := newDeduped(t, rec)
	ctx := context.Background()
	ok := func(reason string, ctx context.Context, req *eventgrpcv1.Events) {
		t.Helper()
		resp, err := p.Dispatch(ctx, SourceGRPC, req)
		if err != nil || resp.Accepted != 1 || resp.Results[0].Reason != reason {
			t.Fatalf("%v %v, want accepted with reason %q", resp, err, reason)
		}
	}
	ok("", ctx, from("a", launch("order-123", ms(now))))
	ok("", ctx, from("b", click("order-123", ms(now))))
	ok(ReasonDuplicate, ctx, from("a", launch("order-123", ms(now))))
	resp, err := p.Dispatch(ctx, SourceGRPC, from("a", click("order-123", ms(now))))
	if err != nil || resp.Accepted != 0 || !strings.HasPrefix(resp.Results[0].Reason, "conflict: ") || resp.Status != eventgrpcv1.Status_STATUS_REJECTED {
		t.Fatalf("another event under a used id: %v %v", resp, err)
	}
	// Authenticated as c, claiming to be a: c's own scope.
	authed := auth.WithClientID(ctx, "c")
	ok("", authed, from("a", click("order-123", ms(now))))
	if n := countIDs(rec, t)["order-123"]; n != 3 {
		t.Fatalf("order-123 published %d times, want 3 (a, b, c)", n)
	}
	var clients []string
	for _, m := range rec.msgs {
		parts, err := event.Decode(m.Body)
		if err != nil {
			t.Fatal(err)
		}
		for _, part := range parts {
			clients = append(clients, part.GetHeader().GetClientId())
		}
	}
	if strings.Join(clients, ",") != "a,b,c" {
		t.Fatalf("published headers' clientId %v, want a,b,c (the authenticated id replaces the claimed one)", clients)
	}
}

// TestIdempotencyKeyMintsStableIds: id-less events of a request with an
// idempotency key (gRPC metadata or WithRequestKey) get ids derived from
// (sender, key, index): a retry gets the same ids and is a duplicate; another
// key, another sender or no key gets other ids.
func TestIdempotencyKeyMintsStableIds(t *testing.T) {
	rec := &recorder{}
	p, _, _ := newDeduped(t, rec)
	md := metadata.NewIncomingContext(context.Background(), metadata.Pairs("idempotency-key", "req-1"))
	send := func(ctx context.Context, client string) (ids []string, reasons []string) {
		t.Helper()
		resp, err := p.Dispatch(ctx, SourceGRPC, from(client, launch("", ms(now)), click("", ms(now))))
		if err != nil || resp.Accepted != 2 {
			t.Fatalf("%v %v", resp, err)
		}
		for _, r := range resp.Results {
			ids, reasons = append(ids, r.EventId), append(reasons, r.Reason)
		}
		return ids, reasons
	}
	first, _ := send(md, "a")
	retry, reasons := send(md, "a")
	if first[0] == first[1] || strings.Join(first, ",") != strings.Join(retry, ",") || reasons[0] != ReasonDuplicate || reasons[1] != ReasonDuplicate {
		t.Fatalf("retry under one key: %v then %v %v", first, retry, reasons)
	}
	viaHTTP, _ := send(WithRequestKey(context.Background(), "req-1"), "a")
	if strings.Join(first, ",") != strings.Join(viaHTTP, ",") {
		t.Fatalf("the key via WithRequestKey gave %v, via metadata %v", viaHTTP, first)
	}
	other, _ := send(md, "b")
	none, _ := send(context.Background(), "a")
	for _, ids := range [][]string{other, none} {
		if ids[0] == first[0] || ids[1] == first[1] {
			t.Fatalf("ids %v repeat %v", ids, first)
		}
	}
	if n := len(countIDs(rec, t)); n != 6 {
		t.Fatalf("%d distinct ids published, want 6", n)
	}
}
