package bench

import (
	"math/rand/v2"
	"time"

	"google.golang.org/protobuf/proto"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
)

// Sample returns n requests of batch events each, of the realistic mix
// `event-grpc bench` sends (80 types, weighted; a user's header per
// request; UUIDv7 ids; now as the timestamp), seeded for repeatable runs.
// Every request is its own copy. For benchmarks of the stages after ingest.
func Sample(seed uint64, n, batch int, now time.Time) ([]*eventgrpcv1.Events, error) {
	p, err := newPool(seed, "bench", now)
	if err != nil {
		return nil, err
	}
	b := newBuilder(p, rand.New(rand.NewPCG(seed, 7)), batch, 0, false)
	out := make([]*eventgrpcv1.Events, n)
	for i := range out {
		out[i] = proto.Clone(b.build(now)).(*eventgrpcv1.Events)
	}
	return out, nil
}
