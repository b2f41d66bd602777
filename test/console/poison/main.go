// Command poison publishes JSON messages that the trace_log table refuses
// (no id, no timestamp) to RabbitMQ, as another service would, so that the
// console test has dead letters to show and replay.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

func main() {
	url := flag.String("url", "amqp://guest:guest@127.0.0.1:5672/", "RabbitMQ URL (with the vhost)")
	n := flag.Int("n", 1, "messages")
	flag.Parse()
	if err := run(*url, *n); err != nil {
		fmt.Fprintln(os.Stderr, "poison:", err)
		os.Exit(1)
	}
}

func run(url string, n int) error {
	conn, err := amqp.Dial(url)
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if err := ch.Confirm(false); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range n {
		c, err := ch.PublishWithDeferredConfirmWithContext(ctx, "identity.dx", "trace_log", true, false, amqp.Publishing{
			ContentType: "application/json", DeliveryMode: amqp.Persistent, Timestamp: time.Now(),
			Body: []byte(fmt.Sprintf(`{"service_name":"console-test","note":"poison %d: no id, no timestamp"}`, i)),
		})
		if err != nil {
			return err
		}
		if ok, err := c.WaitContext(ctx); err != nil || !ok {
			return fmt.Errorf("message %d not confirmed: %v", i, err)
		}
	}
	return nil
}
