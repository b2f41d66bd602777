// Package broker holds the contracts every message broker backend meets:
// Publisher (confirmed, durable publishing), Transport and Subscription
// (fetch with prefetch, ack / nak / in-progress, republish a copy to a queue
// or the error exchange) and the optional DeadLetters. Backends live in
// sub-packages (jetstream, rabbitmq), are transports only, and all pass the
// conformance suite in brokertest. The delivery policy that drives a
// Transport — batching, hold with backoff, retry count, dead letter — is
// internal/consume's.
package broker
