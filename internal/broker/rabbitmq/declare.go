package rabbitmq

import (
	"errors"
	"fmt"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/event-grpc/event-grpc/internal/topology"
)

// declare declares t on conn: every exchange (durable, of its kind), every
// queue and its error queue (durable, bounded, classic or quorum as
// t.Type resolves it with defType: see queueArgs), the
// queues' bindings and each error queue's binding to t.ErrorExchange with the
// queue's name as key. Declaring is idempotent.
//
// The server answers a declaration that contradicts an existing entity
// (another exchange kind, a queue with other arguments) by closing the
// channel; such refusals are collected in problems, each followed by a fresh
// channel, so one conflict does not hide the next. err is set only when the
// connection itself fails.
func declare(conn *amqp.Connection, t *topology.Topology, defType string) (problems []error, err error) {
	if t == nil {
		return nil, nil
	}
	var ch *amqp.Channel
	defer func() {
		if ch != nil && !ch.IsClosed() {
			_ = ch.Close()
		}
	}()
	// do runs one declaration on a live channel; a refusal becomes a
	// problem described by describe.
	do := func(f func(*amqp.Channel) error, describe func(reason string) error) error {
		if ch == nil || ch.IsClosed() {
			c, err := conn.Channel()
			if err != nil {
				return err
			}
			ch = c
		}
		err := f(ch)
		if err == nil {
			return nil
		}
		if conn.IsClosed() {
			return err
		}
		reason := err.Error()
		var ae *amqp.Error
		if errors.As(err, &ae) {
			reason = ae.Reason
			if homeNodeDown(ae) {
				problems = append(problems, errors.New(homeNodeAdvice("", reason)))
				return nil
			}
		}
		problems = append(problems, describe(reason))
		return nil
	}

	for _, e := range t.Exchanges {
		err := do(func(ch *amqp.Channel) error {
			return ch.ExchangeDeclare(e.Name, e.Kind, true, false, false, false, nil)
		}, func(reason string) error {
			return fmt.Errorf("exchange %q (%s, durable) exists with different settings: %s; delete it or align the topology", e.Name, e.Kind, reason)
		})
		if err != nil {
			return problems, err
		}
	}
	queue := func(name string, args amqp.Table) error {
		return do(func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclare(name, true, false, false, false, args)
			return err
		}, func(reason string) error {
			return fmt.Errorf("queue %q exists with different arguments: %s; its bound (%v) needs it declared anew: drain it, delete it, and restart (or apply the arguments as a policy)", name, reason, args)
		})
	}
	bind := func(queue, exchange, key string) error {
		return do(func(ch *amqp.Channel) error {
			return ch.QueueBind(queue, key, exchange, false, nil)
		}, func(reason string) error {
			return fmt.Errorf("binding queue %q to exchange %q with key %q refused: %s", queue, exchange, key, reason)
		})
	}
	for _, q := range t.Queues {
		kind := t.Type(q, defType)
		if err := queue(q.Name, queueArgs(q, kind, t.ErrorExchange)); err != nil {
			return problems, err
		}
		if err := queue(q.ErrorQueue(), errorQueueArgs(kind)); err != nil {
			return problems, err
		}
		for _, bd := range q.Bindings {
			if err := bind(q.Name, bd.Exchange, bd.Key); err != nil {
				return problems, err
			}
		}
		if err := bind(q.ErrorQueue(), t.ErrorExchange, q.Name); err != nil {
			return problems, err
		}
	}
	return problems, nil
}

// queueArgs bound a queue in bytes: when it holds x-max-length-bytes of
// bodies the server refuses further publishes to it (x-overflow:
// reject-publish, a nack the publisher counts and reports as unavailable),
// so one unconsumed queue never fills the server's disk for the others.
//
// A quorum queue (kind topology.QueueQuorum) is replicated across the
// cluster's nodes and survives the loss of a minority of them; it keeps
// the same byte bound. With q.DeliveryLimit set, a message redelivered
// more often is dead-lettered by the server to q's error queue, at least
// once (which reject-publish allows).
func queueArgs(q topology.Queue, kind, errorExchange string) amqp.Table {
	a := amqp.Table{"x-max-length-bytes": q.QueueMaxBytes(), "x-overflow": "reject-publish"}
	if kind == topology.QueueQuorum {
		a["x-queue-type"] = topology.QueueQuorum
		if q.DeliveryLimit > 0 {
			a["x-delivery-limit"] = int64(q.DeliveryLimit)
			a["x-dead-letter-exchange"] = errorExchange
			a["x-dead-letter-routing-key"] = q.Name
			a["x-dead-letter-strategy"] = "at-least-once"
		}
	}
	return a
}

// homeNodeDown reports the server's answer for a classic queue whose node
// is down: 404 "home node … is down or inaccessible".
func homeNodeDown(ae *amqp.Error) bool {
	return ae != nil && ae.Code == amqp.NotFound && strings.Contains(ae.Reason, "home node")
}

// homeNodeAdvice explains a homeNodeDown answer about queue (empty: not
// known which).
func homeNodeAdvice(queue, reason string) string {
	what := "a classic queue's home node is down"
	if queue != "" {
		what = fmt.Sprintf("queue %q is a classic queue whose home node is down", queue)
	}
	return what + " (" + reason + "): a classic queue lives on one node; declare it as a quorum queue (queue_type: quorum in the topology, or RABBIT_QUEUE_TYPE=quorum) to survive a node's loss"
}

// errorQueueArgs bound a dead-letter queue in bytes and age: dead letters
// older than topology.DefaultDeadLetterMaxAge expire, and a full error
// queue drops its oldest (x-overflow: drop-head), so dead-lettering never
// blocks the queue it serves.
// An error queue has the type of the queue it serves.
func errorQueueArgs(kind string) amqp.Table {
	a := amqp.Table{
		"x-max-length-bytes": topology.DefaultDeadLetterMaxBytes,
		"x-message-ttl":      topology.DefaultDeadLetterMaxAge.Milliseconds(),
		"x-overflow":         "drop-head",
	}
	if kind == topology.QueueQuorum {
		a["x-queue-type"] = topology.QueueQuorum
	}
	return a
}
