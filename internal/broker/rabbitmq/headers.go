package rabbitmq

import (
	"encoding/json"
	"math/big"
	"reflect"
	"strconv"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/event-grpc/event-grpc/internal/broker"
)

// tableToHeaders converts AMQP header values to strings: integers in
// decimal, floats in the shortest form that reads back, booleans as
// true/false, timestamps in RFC 3339, byte arrays as they are, nested
// tables and arrays as JSON.
func tableToHeaders(t amqp.Table) map[string]string {
	h := make(map[string]string, len(t))
	for k, v := range t {
		h[k] = headerString(v)
	}
	return h
}

func headerString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []byte:
		return string(v)
	case bool:
		return strconv.FormatBool(v)
	case int, int8, int16, int32, int64:
		return strconv.FormatInt(reflect.ValueOf(v).Int(), 10)
	case uint8, uint16, uint32, uint64:
		return strconv.FormatUint(reflect.ValueOf(v).Uint(), 10)
	case float32:
		return strconv.FormatFloat(float64(v), 'g', -1, 32)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	case amqp.Decimal:
		return new(big.Rat).SetFrac(big.NewInt(int64(v.Value)), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(v.Scale)), nil)).FloatString(int(v.Scale))
	case amqp.Table, []any:
		b, err := json.Marshal(jsonable(v))
		if err != nil {
			return ""
		}
		return string(b)
	}
	return ""
}

// jsonable turns nested AMQP values into values encoding/json renders.
func jsonable(v any) any {
	switch v := v.(type) {
	case amqp.Table:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = jsonable(x)
		}
		return m
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = jsonable(x)
		}
		return out
	case []byte, amqp.Decimal, time.Time:
		return headerString(v)
	}
	return v
}

// headersToTable converts string headers to an AMQP table. x-retry-count
// goes out as an integer (the seed system's type); every other header as a
// string.
func headersToTable(h map[string]string) amqp.Table {
	if len(h) == 0 {
		return nil
	}
	t := make(amqp.Table, len(h))
	for k, v := range h {
		t[k] = v
	}
	if v, ok := h[broker.HeaderRetryCount]; ok {
		if n, err := strconv.ParseInt(v, 10, 32); err == nil {
			t[broker.HeaderRetryCount] = int32(n)
		}
	}
	return t
}

// toDelivery converts an AMQP delivery from queue. Exchange and RoutingKey
// are the original ones: a copy republished to its queue through the
// default exchange carries them in headers.
func toDelivery(queue string, d *amqp.Delivery) broker.Delivery {
	h := tableToHeaders(d.Headers)
	exchange, key := d.Exchange, d.RoutingKey
	if v, ok := h[broker.HeaderOriginalExchange]; ok {
		exchange = v
	}
	if v, ok := h[broker.HeaderOriginalRoutingKey]; ok {
		key = v
	}
	return broker.Delivery{
		ID:          d.MessageId,
		Queue:       queue,
		Exchange:    exchange,
		RoutingKey:  key,
		ContentType: d.ContentType,
		Headers:     h,
		Body:        d.Body,
		Redelivered: d.Redelivered,
		Published:   d.Timestamp,
		Tag:         d.DeliveryTag,
	}
}
