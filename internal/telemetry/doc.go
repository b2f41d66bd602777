// Package telemetry builds the process's Prometheus registry and its slog
// logger; both are created once in main and passed down, never global. It
// also holds the metric conventions and Register, the one way every part
// registers its collectors (see register.go).
package telemetry
