// Package postgres is the transactional sink on PostgreSQL (pgx v5 pool).
// It creates the schema and tables from the declarations and adds declared
// columns a table lacks. Each Write is one transaction: the rows are copied
// (COPY, binary) into a temporary staging table, then inserted into the
// table with `ON CONFLICT (key) DO NOTHING` — or, for tables with a Version
// column, merged into the stored row (see UserAccountTable in
// internal/schema). A batch the server refuses for its data is split until
// the refused rows stand alone; *fault.Partial names them.
package postgres
