// Package brokertest is the conformance suite every broker backend runs:
// confirmed publishing, routing, competing consumers, redelivery, transient
// and permanent handler failures, dead letters, unroutable publishes,
// restarts, bounded prefetch, close, a queue deleted under a running
// consumer, and bounded dead-letter replay. Consumption goes through the
// consume stage's runner (internal/consume), so each transport is proven
// under the one delivery policy the service runs. A backend calls Run from
// its own tests with a Harness that makes connected brokers against a real
// server.
package brokertest
