// Package component is the one lifecycle contract of the service's
// long-lived parts, the ordered group internal/app keeps them in, and the
// one connect-with-backoff helper the parts that reach a server use.
//
// The contract (Component): building a part does no I/O; Start returns
// quickly and runs long work (connecting, serving, sampling) on the part's
// own context; Ready says whether the part is usable now, and why not;
// Shutdown is idempotent, safe before Start, and keeps to its context's
// deadline. A Group starts its parts in order and stops them in reverse,
// so the drain order is the reverse of the start order.
package component
