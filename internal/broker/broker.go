package broker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// Header names the brokers set on retried and dead-lettered messages. They
// are the seed system's names, so existing tooling reads them.
const (
	HeaderRetryCount         = "x-retry-count"
	HeaderErrorReason        = "x-error-reason"
	HeaderOriginalExchange   = "x-original-exchange"
	HeaderOriginalRoutingKey = "x-original-routing-key"
	// HeaderOriginalQueue names the queue a dead letter failed in.
	HeaderOriginalQueue = "x-original-queue"
	// HeaderInsertTime is the ingest time of the events a message holds, in
	// epoch milliseconds.
	HeaderInsertTime = "x-insert-time"
)

// Errors a Publisher returns, wrapped with detail. Match with errors.Is.
var (
	// ErrUnavailable: the broker cannot be reached now; try again later.
	ErrUnavailable = errors.New("broker unavailable")
	// ErrUnroutable: no queue is bound for the exchange and routing key, so
	// the message would be lost; it was not accepted.
	ErrUnroutable = errors.New("message unroutable")
	// ErrOverloaded: the broker or the publisher's bounded window is full.
	// It is fault.ErrOverloaded, the service's one overload sentinel.
	ErrOverloaded = fault.ErrOverloaded
	// ErrClosed: the publisher or consumer was shut down.
	ErrClosed = errors.New("broker closed")
)

// ErrorKind names the class of a publish error for the metrics' kind
// label: unroutable, overloaded, closed, unavailable, canceled (the
// caller's context ended) or other.
func ErrorKind(err error) string {
	switch {
	case errors.Is(err, ErrUnroutable):
		return "unroutable"
	case errors.Is(err, ErrOverloaded):
		return "overloaded"
	case errors.Is(err, ErrClosed):
		return "closed"
	case errors.Is(err, ErrUnavailable):
		return "unavailable"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	}
	return "other"
}

// Message is one message to publish.
type Message struct {
	// ID identifies the message; brokers that can de-duplicate on publish
	// (JetStream's Nats-Msg-Id) use it. Optional.
	ID          string
	RoutingKey  string
	ContentType string
	Headers     map[string]string
	Body        []byte
}

// Publisher sends messages to an exchange.
type Publisher interface {
	// Publish returns nil only after the broker has durably accepted every
	// message (RabbitMQ publisher confirm, JetStream PubAck). On error some
	// messages may have been accepted: a *PublishError says which were not;
	// any other error means none can be counted as accepted. Errors wrap
	// ErrUnavailable, ErrUnroutable, ErrOverloaded or ErrClosed where one
	// applies. Safe for concurrent use; honours ctx.
	Publish(ctx context.Context, exchange string, msgs []Message) error
}

// PublishError names the messages of a Publish call that were not accepted.
type PublishError struct {
	Failed map[int]error // index into msgs → why
}

func (e *PublishError) Error() string {
	idx := make([]int, 0, len(e.Failed))
	for i := range e.Failed {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	var b strings.Builder
	fmt.Fprintf(&b, "%d message(s) not accepted", len(idx))
	for n, i := range idx {
		if n == 3 {
			b.WriteString("; …")
			break
		}
		fmt.Fprintf(&b, "; #%d: %v", i, e.Failed[i])
	}
	return b.String()
}

// Unwrap exposes the causes so errors.Is(err, ErrUnavailable) works.
func (e *PublishError) Unwrap() []error {
	out := make([]error, 0, len(e.Failed))
	for _, err := range e.Failed {
		out = append(out, err)
	}
	return out
}

// Delivery is one message taken from a queue.
type Delivery struct {
	// ID is the message id the publisher set (AMQP message-id, JetStream
	// Nats-Msg-Id); empty when none. Retries and dead letters keep it.
	ID          string
	Queue       string
	Exchange    string // the exchange it was first published to
	RoutingKey  string // its original routing key
	ContentType string
	Headers     map[string]string
	Body        []byte
	// RetryCount is how many times the message failed permanently before
	// (the x-retry-count header); the consume runner reads it, transports
	// leave it 0.
	RetryCount  int
	Redelivered bool
	// Published is when the broker took the message, if it says.
	Published time.Time
	// Tag identifies the delivery to the Subscription that fetched it (for
	// Settle and Republish); meaningless elsewhere.
	Tag uint64
}

// BatchHandler processes a batch of deliveries from one queue. Its result
// decides each message's fate (the consume runner applies it):
//
//   - nil: every message is acked.
//   - a *fault.Partial (alias FailedMessages): the named messages failed
//     permanently (bad data):
//     each is republished with x-retry-count+1, or dead-lettered to the
//     error queue with the reason once the queue's MaxRetries is spent. The
//     others are acked.
//   - any other error: a transient failure of the whole batch (the sink is
//     down). Nothing is acked and no retry count is spent; the batch is held
//     and handed again after a backoff until it succeeds or the consumer
//     stops (then the messages are redelivered later).
//
// A handler is called by one goroutine per consumer; handlers of different
// consumers of a queue run concurrently.
type BatchHandler func(ctx context.Context, batch []Delivery) error

// FailedMessages is fault.Partial, the project's one partial-failure
// type, under the name handlers have used: the messages of a batch (by
// index) that failed permanently. New code returns fault.NewPartial.
type FailedMessages = fault.Partial

// ErrLost: a Subscription is gone (its channel or connection closed, its
// queue was deleted). Its unsettled deliveries return to the queue by
// themselves and must not be settled; open a new Subscription.
var ErrLost = errors.New("subscription lost")

// Transport is the consuming half of a broker backend. It moves messages
// and reports their fate; it decides nothing. Batching, holding a batch on
// transient errors, retry counting and dead-lettering are the consume
// stage's (internal/consume), written once for every backend.
type Transport interface {
	// Subscribe opens one consumer of q that holds at most q.Prefetch
	// unsettled deliveries. It blocks until the consumer is registered, ctx
	// ends (ctx.Err()) or it fails. A queue that is gone but belongs to the
	// topology is declared again first. Errors: one wrapping ErrClosed once
	// the broker is closing; one classified fault.Permanent when q can never
	// be consumed (not a queue of the topology, access refused); any other
	// error is transient (connection down): try again after a backoff. Safe
	// for concurrent use.
	Subscribe(ctx context.Context, q topology.Queue) (Subscription, error)
}

// Subscription is one consumer of one queue. Its methods are called by one
// goroutine at a time (the consume runner's worker); the transport may run
// its own goroutines behind it (keeping deliveries alive).
type Subscription interface {
	// Fetch returns between 1 and max deliveries. It blocks until at least
	// one is there, wait has passed (then it returns none and nil) or ctx
	// ends (none, ctx.Err()). A delivery stays reserved to this
	// subscription — not handed to another consumer, kept alive against the
	// broker's ack timeout — until it is settled or the subscription
	// closes. Errors wrap ErrClosed (the broker is closing: settle what is
	// in hand, then Close), ErrLost (open a new subscription; the
	// deliveries in hand are void), or are transient (try again later).
	Fetch(ctx context.Context, max int, wait time.Duration) ([]Delivery, error)

	// Settle applies one fate to deliveries of this subscription: Ack
	// removes them from the queue (one multiple ack where the broker has
	// it); Nak gives them back for redelivery, at once or after a delay;
	// InProgress tells the broker they are still being worked on, and
	// reports ErrLost or ErrClosed when they cannot be settled any more.
	// It does not wait for the broker to answer beyond a flush. An error
	// wraps ErrLost or ErrClosed when the subscription cannot settle any
	// more (the deliveries come back by themselves).
	Settle(ctx context.Context, ds []Delivery, f Fate) error

	// Republish stores a copy of each message, with the headers given,
	// either in the delivery's own queue or through the error exchange in
	// the queue's error queue, and returns nil only after the broker
	// confirmed every copy durably. On error a *PublishError names the
	// copies not stored (by index into rs); any other error means none
	// can be counted as stored. It blocks at most until ctx ends or the
	// broker's publish timeout. The originals stay unsettled: settling
	// them is the caller's next step.
	Republish(ctx context.Context, rs []Republish) error

	// Close ends the consumer; unsettled deliveries return to the queue.
	// Safe to call twice; it does not block on the network for long.
	Close() error
}

// Verb is what Settle does.
type Verb int

const (
	VerbAck Verb = iota
	VerbNak
	VerbInProgress
)

// Fate is one settlement: a verb and, for a nak, the delay before the
// broker hands the messages out again.
type Fate struct {
	Verb  Verb
	Delay time.Duration
}

// The fates a runner settles with.
var (
	Ack        = Fate{Verb: VerbAck}
	InProgress = Fate{Verb: VerbInProgress}
)

// Nak is the fate "give back for redelivery after delay" (0: at once).
func Nak(delay time.Duration) Fate { return Fate{Verb: VerbNak, Delay: delay} }

// Republish is one copy of a delivery to store again.
type Republish struct {
	// Delivery is the original: its body, id and content type are kept.
	Delivery Delivery
	// DeadLetter false: back into Delivery.Queue (a retry). True: to the
	// error exchange, so into the queue's error queue (a dead letter).
	DeadLetter bool
	// Headers are the copy's headers, complete.
	Headers map[string]string
}

// Broker is a connected backend: it declares the topology and makes
// publishers and consumers.
type Broker interface {
	Publisher
	Transport
	// Ready reports whether the broker is reachable now (for readiness).
	Ready() bool
	// Close releases connections; safe to call twice.
	Close(ctx context.Context) error
}

// DeadLetters is the optional capability behind `event-grpc dlq`.
type DeadLetters interface {
	// Peek returns up to limit messages of queue without removing them,
	// and the queue's total message count.
	Peek(ctx context.Context, queue string, limit int) (count int, sample []Delivery, err error)
	// Replay moves up to limit dead letters of the queue whose error queue
	// is errorQueue back into that queue only — not through the original
	// exchange, so other queues the message first reached get no second
	// copy — with x-retry-count reset and the original exchange and
	// routing key kept. Each is removed from the error queue only after its
	// republish is confirmed. It returns how many moved.
	//
	// One call is bounded: it moves at most min(limit, MaxReplay) messages
	// (limit <= 0 means MaxReplay), and only dead letters that were in the
	// error queue when it started — a replayed message that fails again and
	// returns to the error queue during the call is not replayed twice.
	Replay(ctx context.Context, errorQueue string, limit int) (int, error)
}

// MaxReplay is the most dead letters one DeadLetters.Replay call moves,
// whatever limit it is given; call again for more.
const MaxReplay = 10000

// ReplayLimit is the number of messages a Replay asked for limit moves at
// most.
func ReplayLimit(limit int) int {
	if limit <= 0 || limit > MaxReplay {
		return MaxReplay
	}
	return limit
}
