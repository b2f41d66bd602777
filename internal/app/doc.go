// Package app wires every part from the configuration and runs them: start
// downstream first (sinks, broker, consumers, pipeline, then the servers),
// stop upstream first (not ready, grace, servers, pipeline, consumers,
// broker, sinks) within the shutdown deadline.
package app
