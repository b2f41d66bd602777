package client_test

import (
	"context"
	"log"
	"log/slog"
	"time"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"

	"github.com/event-grpc/event-grpc/client"
)

// A backend service tracking events to event-grpc's HTTP port with an API
// key. Rejections and drops are reported, never silent.
func Example() {
	c, err := client.New(client.Config{
		URL:      "http://localhost:8019",
		ClientID: "backend",
		APIKey:   "the-key-of-backend",
		Header:   &eventgrpcv1.Header{ClientId: "backend", SdkVersion: "go"},
		OnRejected: func(rs []client.Rejection) {
			for _, r := range rs {
				log.Printf("event %s rejected: %s", r.EventID, r.Reason)
			}
		},
		OnDropped: func(n int, reason error) { log.Printf("%d events dropped: %v", n, reason) },
	})
	if err != nil {
		log.Fatal(err)
	}
	// Id and timestamp are minted here, so retries store the event once.
	_ = c.Track(&eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_AddToCartEvent{
		AddToCartEvent: &eventgrpcv1.AddToCartEvent{ProductId: "sku-9", Price: 499.5, Currency: "INR", Quantity: 1},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil { // delivers what is queued
		log.Print(err)
	}
	log.Printf("%+v", c.Stats())
}

// Generic calls with free-form properties, the identity remembered from
// Identify, and a StateDir that keeps what could not be sent for the next
// run of the program.
func Example_generic() {
	c, err := client.New(client.Config{URL: "http://localhost:8019", StateDir: "/var/lib/myapp/events", Logger: slog.Default()})
	if err != nil {
		log.Fatal(err)
	}
	_ = c.Identify("user-42", client.Properties{"email": "ada@example.com", "plan": map[string]any{"tier": "pro", "seats": 5}})
	_ = c.TrackEvent("Order Completed", client.Properties{
		"revenue": 49.5,
		"items":   []any{map[string]any{"sku": "sku-9", "quantity": 1}},
		"coupon":  nil,
	})
	_ = c.Page("Pricing", client.Properties{"path": "/pricing"}, client.WithCategory("docs"))
	_ = c.TrackEvent("Signed Out", nil, client.WithTimestamp(time.Now()))
	c.Reset() // the next calls are anonymous again, with a new anonymous id
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil { // what is not delivered stays in StateDir
		log.Print(err)
	}
}
