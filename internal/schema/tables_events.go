package schema

// eventTables are the typed tables of single event types, fed by the events
// handler from the queues of grpc_event.tx / grpc_event.dx. Their payload
// columns come from the typed payload's field of the same name
// ("payload.<proto field name>", see proto/eventgrpc/v1/eventservice.proto)
// unless they say otherwise.
func eventTables() []*Table {
	return []*Table{
		ErrorEventTable(),
		ClickEventTable(),
		AppInitEventTable(),
		LaunchReferEventTable(),
		AbAssignmentTable(),
		ReferralEventTable(),
	}
}

// ErrorEventTable holds ErrorEvent: errors the clients hit.
func ErrorEventTable() *Table {
	return EventTypedTable("error_event", "client errors (ErrorEvent)",
		str("error_code"),
		str("error_message"),
		str("error_type"),
		str("screen"),
		str("stack_trace"),
		boolean("fatal"),
		str("component"),
		boolean("handled"),
	)
}

// ClickEventTable holds ClickEvent: generic taps on UI elements.
func ClickEventTable() *Table {
	return EventTypedTable("click_event", "generic taps on UI elements (ClickEvent)",
		str("element_id"),
		str("element_type"),
		str("element_text"),
		str("screen"),
		f64("x"),
		f64("y"),
		str("target_url"),
		str("widget_id"),
	)
}

// AppInitEventTable holds AppInitEvent: app initialisation finished. The
// payload's app_version is init_app_version here, apart from the header's
// app_version column.
func AppInitEventTable() *Table {
	return EventTypedTable("app_init_event", "app initialisation finished (AppInitEvent)",
		str("install_source"),
		boolean("first_launch"),
		boolean("cold_start"),
		i64("load_time_ms"),
		str("init_app_version").from("payload.app_version"),
		str("build_number"),
		str("config_version"),
		strs("failed_sdks"),
	)
}

// launchReferPayload are LaunchReferEvent's fields.
func launchReferPayload() []Column {
	return []Column{
		str("referrer_id"),
		str("referral_code"),
		str("campaign"),
		str("source"),
		str("medium"),
		str("install_referrer"),
		str("deep_link"),
	}
}

// LaunchReferEventTable holds LaunchReferEvent in the analytics store.
func LaunchReferEventTable() *Table {
	return EventTypedTable("launch_refer_event", "install/launch attribution to a referrer (LaunchReferEvent)",
		launchReferPayload()...)
}

// ReferralEventTable holds LaunchReferEvent in the transactional store, for
// the referral programme (rewarding referrers): one row per event_id.
func ReferralEventTable() *Table {
	t := EventTypedTable("referral_event", "referrals for the referral programme (LaunchReferEvent)",
		launchReferPayload()...)
	t.Store = Transactional
	return t
}

// AbAssignmentTable holds AbAssignmentEvent: experiment variant assignments
// and exposures.
func AbAssignmentTable() *Table {
	return EventTypedTable("ab_assignment", "A/B experiment assignments (AbAssignmentEvent)",
		str("experiment_id"),
		str("experiment_name"),
		str("variant"),
		i32("bucket"),
		ts("assigned_at"),
		boolean("exposed"),
		boolean("forced"),
	)
}
