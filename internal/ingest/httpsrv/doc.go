// Package httpsrv serves the HTTP port: heartbeat (GET, and PUT for load
// balancer drains), Prometheus metrics, JSON ingest of Events (the protojson
// form, same semantics as gRPC dispatch), the read-only query endpoint of
// the embedded store, and the routes other packages mount (webhooks, admin).
package httpsrv
