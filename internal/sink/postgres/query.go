package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/query"
	"github.com/event-grpc/event-grpc/internal/sink"
)

// Query implements sink.Querier: one read-only statement (SELECT, WITH,
// SHOW, VALUES, TABLE, EXPLAIN) inside a READ ONLY transaction that is
// rolled back, with a statement timeout, and at most maxRows rows (0: no
// limit). Values are PostgreSQL's text output (arrays as {a,b}, booleans as
// t/f, timestamptz with its offset); tabs, newlines and backslashes are
// escaped; NULL is \N.
func (s *Sink) Query(ctx context.Context, q string, maxRows int) ([]string, [][]string, error) {
	stmt, err := syntax.Statement(q)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, sink.QueryTimeout+5*time.Second)
	defer cancel()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, classify(err)
	}
	defer conn.Release()
	// No message of the answer may be larger than the result's byte
	// bound: a larger row is refused as its length arrives, before it is
	// read into memory (the connection is then closed, and the pool
	// replaces it). The write path's bound is restored for the next user.
	fe := conn.Conn().PgConn().Frontend()
	fe.SetMaxBodyLen(maxRowMessage)
	defer fe.SetMaxBodyLen(defaultMaxBodyLen)
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, nil, classify(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL statement_timeout = %d", sink.QueryTimeout.Milliseconds())); err != nil {
		return nil, nil, classify(err)
	}
	// The extended protocol runs exactly one statement (the server refuses
	// more); exec mode asks for text results.
	rows, err := tx.Query(ctx, stmt, pgx.QueryExecModeExec)
	if err != nil {
		return nil, nil, queryError(err)
	}
	defer rows.Close()
	fields := rows.FieldDescriptions()
	cols := make([]string, len(fields))
	for i, f := range fields {
		cols[i] = f.Name
	}
	var out [][]string
	var budget query.ResultBudget
	for rows.Next() {
		if maxRows > 0 && len(out) >= maxRows {
			return cols, out, fault.Permanentf("result has more than %d rows; add a LIMIT", maxRows)
		}
		raw := rows.RawValues()
		rec := make([]string, len(raw))
		for i, v := range raw {
			if v == nil {
				rec[i] = `\N`
				continue
			}
			rec[i] = query.Escape(string(v))
		}
		if err := budget.Add(rec); err != nil {
			return nil, nil, err
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, queryError(err)
	}
	return cols, out, nil
}

// maxRowMessage bounds one protocol message of a query's answer (a row):
// the result's byte bound and room for its framing.
const maxRowMessage = query.MaxResultBytes + 64<<10

// defaultMaxBodyLen is pgproto3's own bound of a message (1 GiB - 2).
const defaultMaxBodyLen = 0x3fffffff - 1

// queryError classifies a query's failure: the server refusing the query
// (syntax, unknown table, a write in the read-only transaction, a data
// error) is the caller's fault; connection trouble and an overloaded
// server are not.
func queryError(err error) error {
	var big *pgproto3.ExceededMaxBodyLenErr
	if errors.As(err, &big) {
		return fault.Permanentf("a row of the result is over %d bytes, the query endpoint's limit (%d bytes of result); select part of it (e.g. left(col, 1000))", maxRowMessage, query.MaxResultBytes)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), strings.HasPrefix(pe.Code, "53"), strings.HasPrefix(pe.Code, "57P"),
			pe.Code == "40001", pe.Code == "40P01":
			return classify(err)
		}
		return fault.Permanent(err)
	}
	return classify(err)
}
