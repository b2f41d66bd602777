package schema

// identityTables are fed by the identity service (exchange identity.dx).
func identityTables() []*Table {
	return []*Table{UserAccountTable(), TraceLogTable()}
}

// UserAccountTable is one row per user account, fed by two queues whose
// messages each carry part of the account: create_user_account (name,
// email, phone, created_at, …) and account_profile_complete
// (profile_completed, profile fields). updated_at is the version.
//
// In PostgreSQL the sink merges a message into the stored row column by
// column (`INSERT … ON CONFLICT (user_id) DO UPDATE`): a column takes the
// message's value when that value is not the type's zero (” , 0, false,
// epoch) and either the message is newer (excluded.updated_at >
// user_account.updated_at) or the stored value is the zero; updated_at
// becomes the greater of the two. So messages carrying different fields
// (the two kinds) complete each other in whichever order they arrive; of
// two messages carrying the same field the newer wins — except that a
// field still empty when an older message arrives takes the older value
// until a message newer than the row brings another; and a redelivered
// message changes nothing. Rows of one user within a batch are merged by
// the same rule first. In ClickHouse (not used for this table by default)
// the whole row with the greatest updated_at wins.
func UserAccountTable() *Table {
	t := jsonTable("user_account", "user accounts: created_user_account merged with account_profile_complete",
		[]string{"user_id"}, "created_at",
		str("user_id").required(),
		str("name"),
		str("username"),
		str("email"),
		str("phone"),
		str("country_code"),
		str("gender"),
		day("date_of_birth"),
		str("city"),
		str("state"),
		str("language"),
		str("profile_image_url"),
		str("referral_code"),
		str("referred_by"),
		str("signup_source"),
		str("signup_method"),
		str("device_id"),
		boolean("is_verified"),
		boolean("profile_completed"),
		ts("profile_completed_at"),
		ts("created_at"),
		ts("updated_at").from("$.updated_at|meta.insert_time").required(),
	)
	t.Store = Transactional
	t.Version = "updated_at"
	return t
}

// TraceLogTable holds the HTTP request traces of the platform's services
// (one row per request handled).
func TraceLogTable() *Table {
	return jsonTable("trace_log", "HTTP request traces of the platform's services",
		[]string{"service_name", "id"}, "timestamp",
		str("id").required(),
		ts("timestamp").required(),
		str("trace_id"),
		str("span_id"),
		str("parent_span_id"),
		str("host_name"),
		str("service_name"),
		str("environment"),
		str("method"),
		str("uri"),
		str("route"),
		str("query_string"),
		i32("status_code"),
		i64("time_taken_ms"),
		i64("request_size"),
		i64("response_size"),
		str("user_id"),
		str("device_id"),
		str("client_id"),
		str("app_version"),
		str("ip"),
		str("user_agent"),
		str("referer"),
		str("error"),
		js("request_headers"),
	)
}
