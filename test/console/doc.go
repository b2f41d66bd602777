// Package console holds the status page's browser test (console.test.mjs,
// run by scripts/test-console.sh) and its helper that publishes poison
// messages (poison/).
package console
