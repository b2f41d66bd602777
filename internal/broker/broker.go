package broker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

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
	ErrOverloaded = errors.New("broker overloaded")
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
	// (the x-retry-count header).
	RetryCount  int
	Redelivered bool
	// Published is when the broker took the message, if it says.
	Published time.Time
}

// BatchHandler processes a batch of deliveries from one queue. Its result
// decides each message's fate:
//
//   - nil: every message is acked.
//   - a *FailedMessages: the named messages failed permanently (bad data):
//     each is republished with x-retry-count+1, or dead-lettered to the
//     error queue with the reason once the queue's MaxRetries is spent. The
//     others are acked.
//   - any other error: a transient failure of the whole batch (the sink is
//     down). Nothing is acked and no retry count is spent; the consumer backs
//     off and hands the same batch again until it succeeds or the consumer
//     stops (then the messages are redelivered later).
//
// A handler is called by one goroutine per consumer; handlers of different
// consumers of a queue run concurrently.
type BatchHandler func(ctx context.Context, batch []Delivery) error

// FailedMessages names the messages of a batch that failed permanently.
type FailedMessages struct {
	Failed map[int]error // index into the batch → why
}

func (e *FailedMessages) Error() string {
	for _, err := range e.Failed {
		return fmt.Sprintf("%d message(s) failed permanently, e.g. %v", len(e.Failed), err)
	}
	return "no message failed"
}

// Consumer delivers a queue's messages in batches.
type Consumer interface {
	// Consume runs q.Consumers concurrent consumers of q, each taking up
	// to q.Prefetch unacked messages and handing batches (per q.Batch) to
	// h. It blocks until ctx ends, then lets the batch in hand finish and be
	// acked before it returns nil, or returns the error that stopped it.
	// Connection loss is not an error: the consumer reconnects with backoff
	// and resumes.
	Consume(ctx context.Context, q topology.Queue, h BatchHandler) error
}

// Broker is a connected backend: it declares the topology and makes
// publishers and consumers.
type Broker interface {
	Publisher
	Consumer
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
	Replay(ctx context.Context, errorQueue string, limit int) (int, error)
}

// RetryCount reads the x-retry-count header; absent or malformed is 0.
func RetryCount(h map[string]string) int {
	n, err := strconv.Atoi(h[HeaderRetryCount])
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// Reason shortens an error to a header-safe reason of at most 512 bytes.
func Reason(err error) string {
	s := strings.ReplaceAll(err.Error(), "\n", " ")
	if len(s) > 512 {
		s = s[:509] + "..."
	}
	return s
}

// ShouldDeadLetter reports whether a delivery that failed permanently has
// spent its retry budget.
func ShouldDeadLetter(q topology.Queue, d Delivery) bool {
	return d.RetryCount >= q.MaxRetries
}

// RetryHeaders returns the headers of d's republished retry: its own, with
// x-retry-count raised and the original exchange and key kept.
func RetryHeaders(d Delivery, cause error) map[string]string {
	h := cloneHeaders(d.Headers)
	h[HeaderRetryCount] = strconv.Itoa(d.RetryCount + 1)
	h[HeaderOriginalExchange] = d.Exchange
	h[HeaderOriginalRoutingKey] = d.RoutingKey
	h[HeaderErrorReason] = Reason(cause)
	return h
}

// DeadLetterHeaders returns the headers of d's dead letter.
func DeadLetterHeaders(d Delivery, cause error) map[string]string {
	h := cloneHeaders(d.Headers)
	h[HeaderRetryCount] = strconv.Itoa(d.RetryCount)
	h[HeaderOriginalExchange] = d.Exchange
	h[HeaderOriginalRoutingKey] = d.RoutingKey
	h[HeaderOriginalQueue] = d.Queue
	h[HeaderErrorReason] = Reason(cause)
	return h
}

func cloneHeaders(h map[string]string) map[string]string {
	out := make(map[string]string, len(h)+5)
	for k, v := range h {
		out[k] = v
	}
	return out
}
