// Package broker holds the contracts every message broker backend meets:
// Publisher (confirmed, durable publishing) and Consumer (batched delivery,
// ack after the handler commits, retry count then dead letter). Backends live
// in sub-packages (jetstream, rabbitmq) and all pass the conformance suite in
// brokertest.
package broker
