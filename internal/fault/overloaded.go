package fault

import "errors"

// ErrOverloaded means a bounded part is full now — an ingest worker queue
// or byte budget, a webhook provider's queue, the broker or a publisher's
// confirm window — and the caller should try again later. It is the one
// overload sentinel of the service: every refusal wraps it (usually inside
// Throttled, with a retry hint), and errors.Is(err, ErrOverloaded) holds
// wherever the refusal came from. broker.ErrOverloaded is the same value.
var ErrOverloaded = errors.New("overloaded")
