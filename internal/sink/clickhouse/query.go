package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/query"
	"github.com/event-grpc/event-grpc/internal/sink"
)

// Query implements sink.Querier: one read-only statement (SELECT, WITH,
// SHOW, DESCRIBE, EXISTS), run with readonly=1 so the server refuses any
// change too: no write, no SET or SETTINGS clause, and no table function
// at all (url(), remote(), file(), s3() … reach files and the network;
// readonly=2 allowed them). At most maxRows rows (0: no limit) and
// query.MaxResultBytes bytes.
func (s *Sink) Query(ctx context.Context, q string, maxRows int) ([]string, [][]string, error) {
	stmt, err := syntax.Statement(q)
	if err != nil {
		return nil, nil, err
	}
	// The server bounds the result before it sends it, and the run time
	// (result_overflow_mode and timeout_overflow_mode keep their default,
	// throw: an error, never a silently cut result).
	settings := ch.Settings{"readonly": 1, "max_execution_time": int(sink.QueryTimeout / time.Second), "max_result_bytes": query.MaxResultBytes}
	if maxRows > 0 {
		settings["max_result_rows"] = maxRows
	}
	ctx, cancel := context.WithTimeout(ctx, sink.QueryTimeout+5*time.Second)
	defer cancel()
	rows, err := s.conn.Query(ch.Context(ctx, ch.WithSettings(settings)), stmt)
	if err != nil {
		return nil, nil, queryError(err, maxRows)
	}
	defer rows.Close()
	types := rows.ColumnTypes()
	cols := make([]string, len(types))
	ptrs := make([]any, len(types))
	isDate := make([]bool, len(types))
	for i, ct := range types {
		cols[i] = ct.Name()
		ptrs[i] = reflect.New(ct.ScanType()).Interface()
		dt := ct.DatabaseTypeName()
		isDate[i] = dt == "Date" || dt == "Nullable(Date)"
	}
	var out [][]string
	var budget query.ResultBudget
	for rows.Next() {
		if maxRows > 0 && len(out) >= maxRows {
			return cols, out, fault.Permanentf("result has more than %d rows; add a LIMIT", maxRows)
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, nil, queryError(err, maxRows)
		}
		rec := make([]string, len(ptrs))
		for i, p := range ptrs {
			v := reflect.ValueOf(p).Elem().Interface()
			if tm, ok := v.(time.Time); ok && isDate[i] {
				rec[i] = tm.Format(time.DateOnly)
				continue
			}
			if tm, ok := v.(*time.Time); ok && tm != nil && isDate[i] {
				rec[i] = tm.Format(time.DateOnly)
				continue
			}
			rec[i] = Text(v)
		}
		if err := budget.Add(rec); err != nil {
			return nil, nil, err
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, queryError(err, maxRows)
	}
	return cols, out, nil
}

// queryError classifies a query's failure: the server refusing the query
// (syntax, unknown table, readonly, too many rows) is the caller's fault.
func queryError(err error, maxRows int) error {
	var ex *ch.Exception
	if errors.As(err, &ex) {
		if ex.Code == 396 { // TOO_MANY_ROWS_OR_BYTES
			return fault.Permanentf("result has more than %d rows or %d bytes; add a LIMIT", maxRows, query.MaxResultBytes)
		}
		if !throttledCodes[ex.Code] && ex.Code != 159 && ex.Code != 209 && ex.Code != 210 {
			return fault.Permanent(err)
		}
	}
	return classify(err)
}

// Text renders a value the way clickhouse-client's TSV output does: NULL as
// \N, times as "YYYY-MM-DD hh:mm:ss", arrays as ['a','b'], tabs, newlines
// and backslashes escaped.
func Text(v any) string {
	switch x := v.(type) {
	case nil:
		return `\N`
	case string:
		return query.Escape(x)
	case []byte:
		return query.Escape(string(x))
	case time.Time:
		// In the zone the driver gives: the column's, else the server's.
		if x.Nanosecond() == 0 {
			return x.Format(time.DateTime)
		}
		return x.Format("2006-01-02 15:04:05.000")
	case bool:
		if x {
			return "true"
		}
		return "false"
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case fmt.Stringer:
		return query.Escape(x.String())
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			return `\N`
		}
		return Text(rv.Elem().Interface())
	case reflect.Slice, reflect.Array:
		parts := make([]string, rv.Len())
		for i := range parts {
			e := rv.Index(i).Interface()
			if s, ok := e.(string); ok {
				parts[i] = "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
				continue
			}
			parts[i] = Text(e)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	return query.Escape(fmt.Sprint(v))
}
