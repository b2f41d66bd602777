package postgres

import (
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/sink"
)

// classify marks an error by its SQLSTATE class:
//
//	22 data exception, 23 integrity constraint violation  permanent (the
//	   row's data; Write splits the batch to find the rows)
//	53 insufficient resources (too many connections, out of memory/disk)  throttled
//	08 connection exception, 57P operator intervention (shutdown),
//	   57014 statement timeout/cancel, 40001 serialization failure,
//	   40P01 deadlock, 55P03 lock not available  transient
//	42 syntax or access rule (a table or column missing: migration not
//	   run, or dropped)  transient, so the rows wait for the schema
//
// Connection errors, timeouts and a cancelled context are transient.
// Errors of any other class are transient too: nothing says the rows are
// at fault. An error already classified keeps its class.
func classify(err error) error {
	return sink.ClassifyBy(err, func(pe *pgconn.PgError) error {
		switch {
		case strings.HasPrefix(pe.Code, "22"), strings.HasPrefix(pe.Code, "23"):
			return fault.Permanent(err)
		case strings.HasPrefix(pe.Code, "53"):
			return fault.Throttled(err, sink.ThrottleHint)
		}
		return fault.Transient(err)
	})
}
