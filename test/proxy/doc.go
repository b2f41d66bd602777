// Package proxy tests the service behind a real reverse proxy (nginx from
// Debian, started by the test on private ports): the operator endpoints
// stay for operators, ingest passes. scripts/ensure-nginx.sh installs
// nginx when it is missing.
package proxy
