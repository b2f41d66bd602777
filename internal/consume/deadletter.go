package consume

import (
	"strconv"
	"strings"

	"github.com/event-grpc/event-grpc/internal/broker"
)

// deadLetterCopy is the copy of d that goes to the error exchange (and so
// into its queue's error queue): its headers plus x-error-reason,
// x-original-exchange, x-original-routing-key, x-original-queue and the
// x-retry-count it failed with. `event-grpc dlq replay` reads them to send
// it back.
func deadLetterCopy(d broker.Delivery, cause error) broker.Republish {
	h := cloneHeaders(d.Headers)
	h[broker.HeaderRetryCount] = strconv.Itoa(d.RetryCount)
	h[broker.HeaderOriginalExchange] = d.Exchange
	h[broker.HeaderOriginalRoutingKey] = d.RoutingKey
	h[broker.HeaderOriginalQueue] = d.Queue
	h[broker.HeaderErrorReason] = reason(cause)
	return broker.Republish{Delivery: d, DeadLetter: true, Headers: h}
}

// maxReason bounds x-error-reason: AMQP header values are long strings, but
// a reason is for people, and a broker frame is no place for a whole
// error chain.
const maxReason = 512

// reason shortens an error to a one-line, header-safe reason of at most
// maxReason bytes, cut on a UTF-8 boundary.
func reason(err error) string {
	s := strings.ReplaceAll(err.Error(), "\n", " ")
	if len(s) <= maxReason {
		return s
	}
	cut := maxReason - 3
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "..."
}
