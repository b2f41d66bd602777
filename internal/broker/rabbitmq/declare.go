package rabbitmq

import (
	"errors"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/event-grpc/event-grpc/internal/topology"
)

// declare declares t on conn: every exchange (durable, of its kind), every
// queue and its error queue (durable, classic, bounded: see queueArgs), the
// queues' bindings and each error queue's binding to t.ErrorExchange with the
// queue's name as key. Declaring is idempotent.
//
// The server answers a declaration that contradicts an existing entity
// (another exchange kind, a queue with other arguments) by closing the
// channel; such refusals are collected in problems, each followed by a fresh
// channel, so one conflict does not hide the next. err is set only when the
// connection itself fails.
func declare(conn *amqp.Connection, t *topology.Topology) (problems []error, err error) {
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
		if err := queue(q.Name, queueArgs(q)); err != nil {
			return problems, err
		}
		if err := queue(q.ErrorQueue(), errorQueueArgs()); err != nil {
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
func queueArgs(q topology.Queue) amqp.Table {
	return amqp.Table{"x-max-length-bytes": q.QueueMaxBytes(), "x-overflow": "reject-publish"}
}

// errorQueueArgs bound a dead-letter queue in bytes and age: dead letters
// older than topology.DefaultDeadLetterMaxAge expire, and a full error
// queue drops its oldest (x-overflow: drop-head), so dead-lettering never
// blocks the queue it serves.
func errorQueueArgs() amqp.Table {
	return amqp.Table{
		"x-max-length-bytes": topology.DefaultDeadLetterMaxBytes,
		"x-message-ttl":      topology.DefaultDeadLetterMaxAge.Milliseconds(),
		"x-overflow":         "drop-head",
	}
}
