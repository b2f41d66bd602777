package schema

// genericTables hold the generic events of the Segment spec (TrackEvent,
// IdentifyEvent, PageEvent, ScreenEvent, GroupEvent, AliasEvent), one table
// per call as Segment's warehouses have them, fed by the events handler
// from their queues on grpc_event.tx. Free-form properties, traits and
// context are JSON text (ClickHouse String, PostgreSQL jsonb, DuckDB
// VARCHAR: query them with the dialect's JSON functions).
func genericTables() []*Table {
	return []*Table{
		genericTable("tracks", "track calls: a named action with free-form properties (TrackEvent)",
			[]string{"event", "client_id", "event_id"},
			str("event").from("payload.name"),
			js("properties")),
		genericTable("identifies", "identify calls: who a user is, with free-form traits (IdentifyEvent)", nil,
			js("traits")),
		genericTable("pages", "page calls: web page views (PageEvent)", nil,
			str("name"),
			str("category"),
			js("properties")),
		genericTable("screens", "screen calls: app screen views (ScreenEvent)", nil,
			str("name"),
			str("category"),
			js("properties")),
		genericTable("groups", "group calls: a user's company, team or account, with its traits (GroupEvent)", nil,
			str("group_id"),
			js("traits")),
		genericTable("aliases", "alias calls: previous_id (an anonymous id) is the same user as user_id (AliasEvent)", nil,
			str("previous_id")),
	}
}

// genericTable declares a table of one generic event type: event id and
// times, the user and anonymous ids, the call's own columns (from the
// payload field of their name unless they say otherwise), then context
// and integrations, and the request header's session, device and client.
// It dedupes on (client_id, event_id) — the Segment messageId scoped to its
// sender, as every event table (eventKey); orderBy defaults to that key.
func genericTable(name, comment string, orderBy []string, cols ...Column) *Table {
	all := []Column{
		str("event_id").from("event.id").required(),
		str("user_id").from("event.user_id|header.userId"),
		str("anonymous_id").from("event.anonymous_id"),
		ts("event_timestamp").from("event.timestamp").required(),
		insertTimestamp(),
	}
	all = append(all, defaultFrom("payload.", cols)...)
	all = append(all,
		js("context").from("event.context"),
		js("integrations").from("event.integrations"),
		str("session_id").from("header.sessionId"),
		str("device_id").from("header.deviceId"),
		str("client_id").from("header.clientId"),
	)
	if orderBy == nil {
		orderBy = eventKey()
	}
	return &Table{
		Name:        name,
		Store:       Analytics,
		Columns:     all,
		OrderBy:     orderBy,
		Key:         eventKey(),
		PartitionBy: "event_timestamp",
		Comment:     comment,
	}
}
