package pipeline

import (
	"context"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/dedupe"
)

// claim asks Dedupe about the client-given ids of the accepted events
// (r.claimed). Done ids are answered accepted without publishing; InFlight
// ids are rejected with a retry hint (another request is publishing them
// and may still fail); New ids stay claimed, to be settled. Minted ids are
// new by construction and are not asked about. Every event still to be
// published is then encoded.
func (p *Pipeline) claim(ctx context.Context, r *request, resp *eventgrpcv1.Response, counts *[numReasons]int32) {
	if len(r.claimed) > 0 {
		ids := make([]string, len(r.claimed))
		for k, i := range r.claimed {
			ids[k] = r.events[i].GetId()
		}
		states, err := p.cfg.Dedupe.Claim(ctx, ids)
		if err != nil {
			// Publish everything: storage dedupes on event_id. (dedupe.Layered
			// never fails; this is for a bare Redis deduper.)
			p.m.dedupeErrors.Inc()
			r.claimed = r.claimed[:0]
		} else {
			kept := r.claimed[:0]
			for k, i := range r.claimed {
				switch states[k] {
				case dedupe.Done:
					r.st[i] = stDuplicate
				case dedupe.InFlight:
					r.st[i] = stRejected
					resp.Results[i].Reason = "UNAVAILABLE: an event with this id is being published by another request; retry it"
					counts[reasonInFlight]++
				default:
					kept = append(kept, i)
				}
			}
			r.claimed = kept
		}
	}
	for i, s := range r.st {
		if s == stPublish {
			p.encode(r, i, r.v[i], resp.Results[i], counts)
		}
	}
}

// settle tells Dedupe how the claimed ids ended: Commit when the event's
// publish was confirmed, Forget otherwise (refused, broker error, too
// large, or the client gave up — then the publish may still have happened,
// and a duplicate publish is deduped in storage, where a lost event is
// not).
func (p *Pipeline) settle(r *request) {
	if p.cfg.Dedupe == nil || len(r.claimed) == 0 {
		return
	}
	var done, failed []string
	for _, i := range r.claimed {
		if r.st[i] == stPublish && r.failed[i] == nil {
			done = append(done, r.events[i].GetId())
		} else {
			failed = append(failed, r.events[i].GetId())
		}
	}
	// dedupe.Layered never returns errors here (it counts Redis failures).
	ctx := context.Background()
	if len(done) > 0 {
		if err := p.cfg.Dedupe.Commit(ctx, done); err != nil {
			p.m.dedupeErrors.Inc()
		}
	}
	if len(failed) > 0 {
		if err := p.cfg.Dedupe.Forget(ctx, failed); err != nil {
			p.m.dedupeErrors.Inc()
		}
	}
}
