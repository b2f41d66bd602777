// Package clickhouse is the analytics sink on ClickHouse, over the native
// protocol (clickhouse-go v2). It creates databases and tables from the
// schema declarations, adds declared columns a table lacks, and writes each
// batch as one `INSERT INTO db.t (columns…)` block. Rows are checked against
// the column types before they are sent, and a batch the server refuses for
// its data is split until the refused rows stand alone, so one bad row never
// fails its neighbours (*fault.Partial names them).
//
// It works with ClickHouse 18.16 and later: the insert always names its
// columns (18.16 hangs on inline VALUES with this driver), and no type newer
// than 18.16 (Map, JSON, DateTime64, LowCardinality) is used.
package clickhouse
