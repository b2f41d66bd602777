// Package telemetry builds the process's Prometheus registry and its slog
// logger; both are created once in main and passed down, never global.
package telemetry
