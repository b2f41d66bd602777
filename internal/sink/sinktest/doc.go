// Package sinktest holds the conformance suite every storage backend passes
// (Run: typed read-back of every column type, a batch written twice stays
// one row per key, one bad row fails alone, store gone → transient and the
// batch held, concurrent writers, Close twice), and helpers for the tests
// of backends: a TCP proxy in front of a real server that can cut or freeze
// its connections, so a test can make the server go away or hang without
// stopping it, and what is built on it (Server: a write through a cut or
// frozen connection; BehindCutProxy: a Harness's Gone); the all_types
// table and rows every SQL backend writes, and their read-back
// (ScanAllTypes, SameRows); the table test of a backend's read-only query
// check; and the steps most tests take (Main, Namespace, Migrate, Write,
// Failed, Query, Refused).
package sinktest
