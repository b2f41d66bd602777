// Package brokertest is the conformance suite every broker backend runs:
// confirmed publishing, routing, competing consumers, redelivery, transient
// and permanent handler failures, dead letters, unroutable publishes,
// restarts, bounded prefetch, close, a queue deleted under a running
// consumer, and bounded dead-letter replay. Consumption goes through the
// delivery policy the harness passes in (Harness.Consume: consume.Run), so
// each transport is proven under the one policy the service runs while the
// suite imports nothing above the broker contract. A backend calls Run
// from its own tests with a Harness that makes connected brokers against a
// real server.
package brokertest
