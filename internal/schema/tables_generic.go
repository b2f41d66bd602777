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
			Column{Name: "event", Type: String, From: "payload.name"},
			Column{Name: "properties", Type: JSON, From: "payload.properties"}),
		genericTable("identifies", "identify calls: who a user is, with free-form traits (IdentifyEvent)", nil,
			Column{Name: "traits", Type: JSON, From: "payload.traits"}),
		genericTable("pages", "page calls: web page views (PageEvent)", nil,
			Column{Name: "name", Type: String, From: "payload.name"},
			Column{Name: "category", Type: String, From: "payload.category"},
			Column{Name: "properties", Type: JSON, From: "payload.properties"}),
		genericTable("screens", "screen calls: app screen views (ScreenEvent)", nil,
			Column{Name: "name", Type: String, From: "payload.name"},
			Column{Name: "category", Type: String, From: "payload.category"},
			Column{Name: "properties", Type: JSON, From: "payload.properties"}),
		genericTable("groups", "group calls: a user's company, team or account, with its traits (GroupEvent)", nil,
			Column{Name: "group_id", Type: String, From: "payload.group_id"},
			Column{Name: "traits", Type: JSON, From: "payload.traits"}),
		genericTable("aliases", "alias calls: previous_id (an anonymous id) is the same user as user_id (AliasEvent)", nil,
			Column{Name: "previous_id", Type: String, From: "payload.previous_id"}),
	}
}

// genericTable declares a table of one generic event type: event id and
// times, the user and anonymous ids, the call's own columns, then context
// and integrations, and the request header's session, device and client.
// It dedupes on (client_id, event_id) — the Segment messageId scoped to its
// sender, as every event table (eventKey); orderBy defaults to that key.
func genericTable(name, comment string, orderBy []string, cols ...Column) *Table {
	all := []Column{
		{Name: "event_id", Type: String, From: "event.id", Required: true},
		{Name: "user_id", Type: String, From: "event.user_id|header.userId"},
		{Name: "anonymous_id", Type: String, From: "event.anonymous_id"},
		{Name: "event_timestamp", Type: DateTime, From: "event.timestamp", Required: true},
		{Name: "insert_timestamp", Type: DateTime, From: "meta.insert_time", Required: true},
	}
	all = append(all, cols...)
	all = append(all,
		Column{Name: "context", Type: JSON, From: "event.context"},
		Column{Name: "integrations", Type: JSON, From: "event.integrations"},
		Column{Name: "session_id", Type: String, From: "header.sessionId"},
		Column{Name: "device_id", Type: String, From: "header.deviceId"},
		Column{Name: "client_id", Type: String, From: "header.clientId"},
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
