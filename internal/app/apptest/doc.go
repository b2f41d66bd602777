// Package apptest runs the whole service in-process for tests of other
// packages (the Connect handler, the Go SDK): zero-configuration defaults
// (embedded JetStream, DuckDB) in a temporary directory, random ports, and
// helpers that query what was stored.
package apptest
