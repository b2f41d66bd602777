// Package sink holds the contract every storage backend meets: write one
// batch of rows to one table as one operation, idempotently (rows dedupe on
// the table's key), and say which rows failed when only some did.
package sink
