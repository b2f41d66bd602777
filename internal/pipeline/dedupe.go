package pipeline

import (
	"context"
	"fmt"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/dedupe"
)

// claim asks Dedupe about the client-given ids of the accepted events
// (r.claimed), keyed by sender scope and id, with their content digests
// (see ids.go). Done ids are answered accepted without publishing, reason
// "duplicate"; InFlight ids are rejected with a retry hint (another request
// is publishing them and may still fail); Conflict ids (the sender used the
// id for another event) are rejected for good; New ids stay claimed, to be
// settled. Ids minted as UUIDv7 are new by construction and are not asked
// about; ids derived from an idempotency key are. Every event still to be
// published is then encoded.
func (p *Pipeline) claim(ctx context.Context, r *request, resp *eventgrpcv1.Response, counts *[numReasons]int32) {
	if len(r.claimed) > 0 {
		states, err := p.cfg.Dedupe.Claim(ctx, r.keys, r.sums)
		if err != nil {
			// Publish everything: storage dedupes on event_id. (dedupe.Layered
			// never fails; this is for a bare Redis deduper.)
			p.m.dedupeErrors.Inc()
			r.claimed, r.keys, r.sums = r.claimed[:0], r.keys[:0], r.sums[:0]
		} else {
			n := 0
			for k, i := range r.claimed {
				switch states[k] {
				case dedupe.Done:
					r.st[i] = stDuplicate
					setFate(resp.Results[i], eventgrpcv1.ResultCode_RESULT_CODE_DUPLICATE, ReasonDuplicate)
					continue
				case dedupe.InFlight:
					r.st[i] = stRejected
					setFate(resp.Results[i], eventgrpcv1.ResultCode_RESULT_CODE_UNAVAILABLE, "UNAVAILABLE: an event with this id is being published by another request; retry it")
					counts[reasonInFlight]++
					continue
				case dedupe.Conflict:
					r.st[i] = stRejected
					setFate(resp.Results[i], eventgrpcv1.ResultCode_RESULT_CODE_CONFLICT, fmt.Sprintf("conflict: id %q is already used for a different event of this client; give this event a new id", truncate(r.events[i].GetId(), 80)))
					counts[reasonConflict]++
					continue
				}
				r.claimed[n], r.keys[n], r.sums[n] = i, r.keys[k], r.sums[k]
				n++
			}
			r.claimed, r.keys, r.sums = r.claimed[:n], r.keys[:n], r.sums[:n]
		}
	}
	for i, s := range r.st {
		if s == stPublish {
			p.encode(r, i, r.v[i], resp.Results[i], counts)
		}
	}
}

// ReasonDuplicate is the reason of an accepted event whose id (with the
// same content) was published within the dedupe window: it was not
// published again.
const ReasonDuplicate = "duplicate"

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
	var sums []dedupe.Sum
	for k, i := range r.claimed {
		if r.st[i] == stPublish && r.failed[i] == nil {
			done = append(done, r.keys[k])
			sums = append(sums, r.sums[k])
		} else {
			failed = append(failed, r.keys[k])
		}
	}
	// dedupe.Layered never returns errors here (it counts Redis failures).
	ctx := context.Background()
	if len(done) > 0 {
		if err := p.cfg.Dedupe.Commit(ctx, done, sums); err != nil {
			p.m.dedupeErrors.Inc()
		}
	}
	if len(failed) > 0 {
		if err := p.cfg.Dedupe.Forget(ctx, failed); err != nil {
			p.m.dedupeErrors.Inc()
		}
	}
}
