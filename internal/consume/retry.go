package consume

import (
	"errors"
	"strconv"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// retryCount reads the x-retry-count header: how many times the message
// failed permanently before. Absent or malformed is 0.
func retryCount(h map[string]string) int {
	n, err := strconv.Atoi(h[broker.HeaderRetryCount])
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// retriesSpent reports whether a delivery that failed permanently has
// spent its retry budget (q.MaxRetries earlier failures), so it goes to the
// error queue rather than back to its queue.
func retriesSpent(q topology.Queue, d broker.Delivery) bool {
	return d.RetryCount >= q.MaxRetries
}

// retryCopy is the copy of d that goes back to its own queue: its headers,
// with x-retry-count raised, the original exchange and routing key kept and
// the reason of this failure.
func retryCopy(d broker.Delivery, cause error) broker.Republish {
	h := cloneHeaders(d.Headers)
	h[broker.HeaderRetryCount] = strconv.Itoa(d.RetryCount + 1)
	h[broker.HeaderOriginalExchange] = d.Exchange
	h[broker.HeaderOriginalRoutingKey] = d.RoutingKey
	h[broker.HeaderErrorReason] = reason(cause)
	return broker.Republish{Delivery: d, Headers: h}
}

// copyOf decides a permanently failed delivery's way: a retry while its
// budget lasts, else a dead letter.
func copyOf(q topology.Queue, d broker.Delivery, cause error) broker.Republish {
	if cause == nil {
		cause = errors.New("failed permanently (no reason given)")
	}
	if retriesSpent(q, d) {
		return deadLetterCopy(d, cause)
	}
	return retryCopy(d, cause)
}

func cloneHeaders(h map[string]string) map[string]string {
	out := make(map[string]string, len(h)+5)
	for k, v := range h {
		out[k] = v
	}
	return out
}
