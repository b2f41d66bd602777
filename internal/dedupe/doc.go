// Package dedupe remembers the event ids the ingest pipeline has published
// within a window, so a client's retry of an event that already became
// durable is acknowledged without publishing it again. It is an
// optimisation of the broker's and the sinks' load: storage dedupes on
// event_id regardless, so a miss here (an evicted entry, Redis down, a
// restart) costs a duplicate message, never a duplicate row.
//
// Ids are scoped to their sender: the pipeline keys each id by the
// sender's scope (see docs/ids.md) and passes a digest of the event's
// content (Sum) with it. An id Done under another digest is a Conflict: the
// sender used it for a different event, which is rejected rather than
// acknowledged as a duplicate. Both Local and Redis store the digest beside
// the id (Redis: the state letter followed by the 16 digest bytes).
//
// # Claim, then Commit or Forget
//
// The pipeline asks before it publishes, and an id has three states:
//
//   - New: not seen in the window. Claim has now marked it in flight, for
//     PendingTTL. The caller publishes it and then must call Commit (the
//     publish was confirmed: the id is Done for Window) or Forget (the
//     publish failed: the id is released, so the client's retry is
//     published instead of being acknowledged as a duplicate).
//   - Done: published within the window. Acknowledge it without
//     publishing.
//   - InFlight: claimed by another request whose publish has not finished.
//     It must not be acknowledged — that publish may still fail — so it is
//     rejected with a retry hint; the retry finds it Done or New. A second
//     occurrence of an id within one Claim call is InFlight too.
//
// A plain "seen" flag set before publishing would lose events: a client
// whose call timed out retries while the first publish is still waiting for
// the broker; the retry would be acknowledged as a duplicate, and if the
// first publish then fails, the event was acknowledged but never stored.
// Should the process die between Claim and Commit/Forget, the claim expires
// after PendingTTL and the id counts as New again.
//
// # Implementations
//
// Local is a bounded set of generations in the process (event ids are
// written once, so no cache admission policy is needed). Redis shares the
// window between instances: `SET eventgrpc:dedupe:<id> p NX PX <pending>`
// pipelined per id (a failed NX means seen; a GET then tells Done from
// InFlight), `SET … d PX <window>` on Commit, DEL on Forget; one address
// is a plain client, several a cluster client. Layered asks Local first
// and Redis for the ids Local does not know; when Redis fails it answers
// from Local alone, counts eventgrpc_dedupe_redis_errors_total, logs at
// most once per ErrorLogInterval and leaves Redis alone for a backoff (1s
// doubling to 30s) so a dead Redis does not add its timeout to every
// request. Open builds what the configuration asks for.
//
// When Local's item bound fills generations faster than the window turns,
// the oldest generation is dropped early: those ids are simply not
// remembered (a possible duplicate publish, deduped in storage).
package dedupe
