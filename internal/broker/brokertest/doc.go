// Package brokertest is the conformance suite every broker backend runs:
// confirmed publishing, routing, competing consumers, redelivery, transient
// and permanent handler failures, dead letters, unroutable publishes,
// restarts and bounded prefetch. A backend calls Run from its own tests with
// a Harness that makes connected brokers against a real server.
package brokertest
