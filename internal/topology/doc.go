// Package topology declares the broker layout as data: exchanges, queues,
// bindings, consumer counts, prefetch, batch policy, retry budget and the
// queue → handler → tables wiring. Both brokers build from the same
// Topology; the built-in default reproduces the seed system and a YAML file
// (TOPOLOGY_FILE) replaces it.
package topology
