package rabbitmq

import (
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/event-grpc/event-grpc/internal/fault"
)

// maxShortString is the longest AMQP 0-9-1 short string: exchange names,
// routing keys, message ids, content types, header (table field) names.
// amqp091 answers a longer one by closing the whole connection
// ("shortstr exceeds 255 bytes"), failing every publish in flight on it.
const maxShortString = 255

// frameError reports why out cannot be framed, as a permanent error naming
// the part at fault, or nil. Publish refuses such a message alone, so no
// message — from an ingest edge, a replayed dead letter or a service — can
// close the connection.
func frameError(out *outgoing) error {
	long := func(what string, n int) error {
		return fault.Permanent(fmt.Errorf("%s is %d bytes; AMQP's limit is %d", what, n, maxShortString))
	}
	switch {
	case len(out.exchange) > maxShortString:
		return long("exchange name", len(out.exchange))
	case len(out.key) > maxShortString:
		return long("routing key", len(out.key))
	case len(out.msg.MessageId) > maxShortString:
		return long("message id", len(out.msg.MessageId))
	case len(out.msg.ContentType) > maxShortString:
		return long("content type", len(out.msg.ContentType))
	case len(out.msg.CorrelationId) > maxShortString:
		return long("correlation id", len(out.msg.CorrelationId))
	}
	return tableError(out.msg.Headers)
}

func tableError(t amqp.Table) error {
	for k, v := range t {
		if len(k) > maxShortString {
			return fault.Permanent(fmt.Errorf("header name %.40q… is %d bytes; AMQP's limit is %d", k, len(k), maxShortString))
		}
		if sub, ok := v.(amqp.Table); ok {
			if err := tableError(sub); err != nil {
				return err
			}
		}
	}
	return nil
}
