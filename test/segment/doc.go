// Package segment drives the Segment API with the public SDKs,
// unmodified but for their endpoint: analytics-go v3.3.0 here (a Go test,
// run by `make unit`), analytics-node, rudder-sdk-node and analytics-next
// in headless Chromium in the *.test.mjs files (scripts/test-segment.sh).
package segment
