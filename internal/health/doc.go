// Package health holds the service's readiness: the heartbeat flag that
// operators and the drain turn off (PUT /heartbeat?beat=false), and probes
// of the parts that must be up (the broker). /heartbeat and gRPC health both
// read it.
package health
