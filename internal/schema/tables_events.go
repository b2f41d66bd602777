package schema

// eventTables are the typed tables of single event types, fed by the events
// handler from the queues of grpc_event.tx / grpc_event.dx. Their payload
// columns come from the typed payload ("payload.<proto field name>", see
// proto/eventgrpc/v1/eventservice.proto).
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
	return EventTypedTable("error_event", "client errors (ErrorEvent)", payloadCols(
		Column{Name: "error_code", Type: String},
		Column{Name: "error_message", Type: String},
		Column{Name: "error_type", Type: String},
		Column{Name: "screen", Type: String},
		Column{Name: "stack_trace", Type: String},
		Column{Name: "fatal", Type: Bool},
		Column{Name: "component", Type: String},
		Column{Name: "handled", Type: Bool},
	)...)
}

// ClickEventTable holds ClickEvent: generic taps on UI elements.
func ClickEventTable() *Table {
	return EventTypedTable("click_event", "generic taps on UI elements (ClickEvent)", payloadCols(
		Column{Name: "element_id", Type: String},
		Column{Name: "element_type", Type: String},
		Column{Name: "element_text", Type: String},
		Column{Name: "screen", Type: String},
		Column{Name: "x", Type: Float64},
		Column{Name: "y", Type: Float64},
		Column{Name: "target_url", Type: String},
		Column{Name: "widget_id", Type: String},
	)...)
}

// AppInitEventTable holds AppInitEvent: app initialisation finished. The
// payload's app_version is init_app_version here, apart from the header's
// app_version column.
func AppInitEventTable() *Table {
	return EventTypedTable("app_init_event", "app initialisation finished (AppInitEvent)", payloadCols(
		Column{Name: "install_source", Type: String},
		Column{Name: "first_launch", Type: Bool},
		Column{Name: "cold_start", Type: Bool},
		Column{Name: "load_time_ms", Type: Int64},
		Column{Name: "init_app_version", Type: String, From: "payload.app_version"},
		Column{Name: "build_number", Type: String},
		Column{Name: "config_version", Type: String},
		Column{Name: "failed_sdks", Type: Strings},
	)...)
}

// launchReferPayload are LaunchReferEvent's fields.
func launchReferPayload() []Column {
	return payloadCols(
		Column{Name: "referrer_id", Type: String},
		Column{Name: "referral_code", Type: String},
		Column{Name: "campaign", Type: String},
		Column{Name: "source", Type: String},
		Column{Name: "medium", Type: String},
		Column{Name: "install_referrer", Type: String},
		Column{Name: "deep_link", Type: String},
	)
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
	return EventTypedTable("ab_assignment", "A/B experiment assignments (AbAssignmentEvent)", payloadCols(
		Column{Name: "experiment_id", Type: String},
		Column{Name: "experiment_name", Type: String},
		Column{Name: "variant", Type: String},
		Column{Name: "bucket", Type: Int32},
		Column{Name: "assigned_at", Type: DateTime},
		Column{Name: "exposed", Type: Bool},
		Column{Name: "forced", Type: Bool},
	)...)
}
