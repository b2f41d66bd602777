// Package sinktest holds helpers for the tests of storage backends: a TCP
// proxy in front of a real server that can cut or freeze its connections,
// so a test can make the server go away or hang without stopping it; the
// all_types table and rows every SQL backend writes; and the table test
// of a backend's read-only query check.
package sinktest
