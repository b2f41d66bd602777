package clickhouse

import (
	"strings"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/sink"
)

// Server error codes (ClickHouse's ErrorCodes.cpp) that say nothing about
// the data: the server is busy, short of memory, restarting, or the schema
// is not (yet) what the sink expects. Such a write is held and tried again;
// the rows spend no retry count.
var transientCodes = map[int32]bool{
	3:   true, // UNEXPECTED_END_OF_FILE
	16:  true, // NO_SUCH_COLUMN_IN_TABLE: migration not run yet
	32:  true, // ATTEMPT_TO_READ_AFTER_EOF
	47:  true, // UNKNOWN_IDENTIFIER
	60:  true, // UNKNOWN_TABLE
	81:  true, // UNKNOWN_DATABASE
	159: true, // TIMEOUT_EXCEEDED
	160: true, // TOO_SLOW
	164: true, // READONLY
	192: true, // UNKNOWN_USER
	193: true, // WRONG_PASSWORD
	194: true, // REQUIRED_PASSWORD
	195: true, // IP_ADDRESS_NOT_ALLOWED
	203: true, // NO_FREE_CONNECTION
	209: true, // SOCKET_TIMEOUT
	210: true, // NETWORK_ERROR
	225: true, // NO_ZOOKEEPER
	236: true, // ABORTED
	242: true, // TABLE_IS_READ_ONLY
	244: true, // UNEXPECTED_ZOOKEEPER_ERROR
	279: true, // ALL_CONNECTION_TRIES_FAILED
	319: true, // UNKNOWN_STATUS_OF_INSERT
	394: true, // QUERY_WAS_CANCELLED
	425: true, // SYSTEM_ERROR
	439: true, // CANNOT_SCHEDULE_TASK
	497: true, // ACCESS_DENIED
	516: true, // AUTHENTICATION_FAILED
	999: true, // KEEPER_EXCEPTION
}

// Codes that mean "too much now": retried later like transient errors, with
// a hint.
var throttledCodes = map[int32]bool{
	201: true, // QUOTA_EXPIRED (QUOTA_EXCEEDED)
	202: true, // TOO_MANY_SIMULTANEOUS_QUERIES
	241: true, // MEMORY_LIMIT_EXCEEDED
	252: true, // TOO_MANY_PARTS: merges are behind inserts
}

// classify marks an error from the driver: connection trouble, timeouts and
// a busy server are transient (or throttled); any other exception the server
// raised is permanent — the data of the statement is at fault, and Write
// splits the batch to find the rows. An error already classified keeps its
// class.
//
// Anything else (connection trouble, a timeout or cancelled context, no
// free connection in time, a driver state error, a closed pool) is not
// about the data: transient, the default class.
func classify(err error) error {
	return sink.ClassifyBy(err, func(ex *ch.Exception) error {
		switch {
		case ex.Code == 252 && strings.Contains(ex.Message, "partitions for single INSERT"):
			// The batch spans more months than the server takes in one
			// block (newer servers): splitting it helps, retrying does not.
			return fault.Permanent(err)
		case throttledCodes[ex.Code]:
			return fault.Throttled(err, sink.ThrottleHint)
		case transientCodes[ex.Code]:
			return fault.Transient(err)
		}
		return fault.Permanent(err)
	})
}
