package schema

import (
	"fmt"
	"sort"
	"strings"
)

// headerColumns are the columns every event table takes from the request
// Header, in the seed's column names; From is the Header field's proto name.
var headerColumns = []Column{
	{Name: "session_id", Type: String, From: "header.sessionId"},
	{Name: "bb_device_id", Type: String, From: "header.bbDeviceId"},
	{Name: "user_id", Type: String, From: "header.userId"},
	{Name: "device_id", Type: String, From: "header.deviceId"},
	{Name: "android_advertising_id", Type: String, From: "header.androidAdvertisingId"},
	{Name: "client_id", Type: String, From: "header.clientId"},
	{Name: "channel", Type: String, From: "header.channel"},
	{Name: "os", Type: String, From: "header.os"},
	{Name: "client_type", Type: String, From: "header.clientType"},
	{Name: "app_language", Type: String, From: "header.appLanguage"},
	{Name: "merchant_id", Type: String, From: "header.merchantId"},
	{Name: "pp_id", Type: String, From: "header.ppId"},
	{Name: "app_version", Type: String, From: "header.appVersion"},
	{Name: "current_url", Type: String, From: "header.currentURL"},
	{Name: "utm_referrer", Type: String, From: "header.utmReferrer"},
	{Name: "utm_platform", Type: String, From: "header.utmPlatform"},
	{Name: "utm_source", Type: String, From: "header.utmSource"},
	{Name: "utm_medium", Type: String, From: "header.utmMedium"},
	{Name: "utm_campaign", Type: String, From: "header.utmCampaign"},
	{Name: "os_version", Type: String, From: "header.osVersion"},
	{Name: "device_model", Type: String, From: "header.deviceModel"},
	{Name: "network_type", Type: String, From: "header.networkType"},
	{Name: "timezone", Type: String, From: "header.timezone"},
	{Name: "sdk_version", Type: String, From: "header.sdkVersion"},
}

// eventColumns are the per-event columns of the event tables. The From
// paths are resolved by the events handler:
//
//	event.id         the event_id (client-given or minted at ingest)
//	event.name       the type name (LaunchEvent, …; CustomEvent's own name)
//	event.timestamp  the event time (clamped to ingest time if in the future)
//	event.params     the typed payload as JSON, proto field names
//	meta.insert_time when ingest accepted it
//	payload.<field>  a field of the typed payload, by proto name
//	header.<field>   a Header field, by proto name
var eventColumns = []Column{
	{Name: "event_id", Type: String, From: "event.id", Required: true},
	{Name: "event_name", Type: String, From: "event.name", Required: true},
	{Name: "event_timestamp", Type: DateTime, From: "event.timestamp", Required: true},
	{Name: "insert_timestamp", Type: DateTime, From: "meta.insert_time", Required: true},
}

// eventKey is the unique key of the event tables: an event id is unique per
// sender (client_id, which ingest sets to the authenticated client id when
// there is one), so two clients' events with the same id are two rows while
// one client's retry is one. Tables created before the key had client_id
// keep their old key (CREATE TABLE IF NOT EXISTS does not change a key):
// see docs/ids.md for moving them.
func eventKey() []string { return []string{"client_id", "event_id"} }

// EventTable is the seed's `event` table: every event of every type, the
// typed payload as JSON in event_params.
func EventTable() *Table {
	cols := append(append([]Column{}, eventColumns...), headerColumns...)
	cols = append(cols, Column{Name: "event_params", Type: JSON, From: "event.params"})
	return &Table{
		Name:        "event",
		Store:       Analytics,
		Columns:     cols,
		OrderBy:     []string{"event_name", "client_id", "event_id"},
		Key:         eventKey(),
		PartitionBy: "event_timestamp",
		Comment:     "every event of every type, as dispatched",
	}
}

// EventTypedTable declares a typed table of one event type: the event
// columns, the header columns, then the payload fields given; a payload
// column with no From takes the payload field of its name
// ("payload.<name>").
func EventTypedTable(name, comment string, payload ...Column) *Table {
	cols := append(append([]Column{}, eventColumns...), headerColumns...)
	cols = append(cols, defaultFrom("payload.", payload)...)
	return &Table{
		Name:        name,
		Store:       Analytics,
		Columns:     cols,
		OrderBy:     eventKey(),
		Key:         eventKey(),
		PartitionBy: "event_timestamp",
		Comment:     comment,
	}
}

// NewCatalog builds a catalog from declarations, validating each.
func NewCatalog(tables ...*Table) (Catalog, error) {
	c := Catalog{}
	for _, t := range tables {
		if err := t.Validate(); err != nil {
			return nil, err
		}
		if _, dup := c[t.Name]; dup {
			return nil, fmt.Errorf("table %s declared twice", t.Name)
		}
		c[t.Name] = t
	}
	return c, nil
}

// Names returns the catalog's table names, sorted.
func (c Catalog) Names() []string {
	out := make([]string, 0, len(c))
	for n := range c {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Default is the catalog of every table event-grpc declares.
func Default() Catalog {
	c, err := NewCatalog(defaultTables()...)
	if err != nil {
		panic("schema: built-in declarations are invalid: " + err.Error())
	}
	return c
}

// defaultTables lists the declarations; each group of tables lives in its
// own file:
//
//	tables.go           event (every event, params as JSON)
//	tables_events.go    typed event tables, referral_event
//	tables_generic.go   tracks, identifies, pages, screens, groups, aliases
//	tables_identity.go  user_account, trace_log
//	tables_webhooks.go  branch_event, webengage_event, graphy_event, shopify_event, vidooly_event
//	tables_commerce.go  affiliate_order, order_log, activity_tracker, bigboss_votes
//	tables_beat.go      post_log_event, post_activity_log, sentiment_log,
//	                    profile_log, profile_relationship_log,
//	                    scrape_request_log, entity_metric
func defaultTables() []*Table {
	tables := []*Table{EventTable()}
	tables = append(tables, eventTables()...)
	tables = append(tables, genericTables()...)
	tables = append(tables, identityTables()...)
	tables = append(tables, webhookTables()...)
	tables = append(tables, commerceTables()...)
	tables = append(tables, beatTables()...)
	return tables
}

// Where the columns of the JSON-fed tables come from (CompileJSON resolves
// them; the handler builds a JSONRow per object):
//
//	$.a.b             a field of the message's JSON object
//	header:x-name     a message header (webhook ingest copies the provider's
//	                  HTTP headers there, names in lower case)
//	meta.insert_time  when event-grpc accepted the message: the handlers
//	                  resolve it for both kinds of table — the events
//	                  handler from the pipeline's stamp, the JSON handler
//	                  from the time it consumed the message
//	meta.message_id   a stable id of the object, for tables whose messages
//	                  carry no id of their own: the hex SHA-256 of the
//	                  queue's name and the object's JSON bytes (never the
//	                  publisher's message id or the object's position), so a
//	                  redelivered message maps to the same key and dedupes
//	                  while two different bodies never collapse
//	a|b               the first of the alternatives that has a value
//
// Every table ends with insert_timestamp from meta.insert_time.

// insertTimestamp is the column every table ends with.
func insertTimestamp() Column {
	return Column{Name: "insert_timestamp", Type: DateTime, From: "meta.insert_time", Required: true}
}

// eventIDColumn is the key of JSON tables whose messages have no natural id:
// the message's event_id when it has one, else the message id.
func eventIDColumn() Column {
	return Column{Name: "event_id", Type: String, From: "$.event_id|meta.message_id", Required: true}
}

// jsonTable declares an analytics table fed by JSON messages: cols, then
// insert_timestamp; deduplicated on orderBy (whose last column is the
// message's id); partitioned by the month of partitionBy. A column with no
// From takes the message's field of its name ("$.<name>"); a From with no
// source prefix is a field path ("$." is prepended).
func jsonTable(name, comment string, orderBy []string, partitionBy string, cols ...Column) *Table {
	cols = defaultFrom("$.", cols)
	for i, c := range cols {
		if !strings.HasPrefix(c.From, "$") && !strings.HasPrefix(c.From, "header:") &&
			!strings.HasPrefix(c.From, "meta.") && !strings.HasPrefix(c.From, "const:") {
			cols[i].From = "$." + c.From
		}
	}
	return &Table{
		Name:        name,
		Store:       Analytics,
		Columns:     append(cols, insertTimestamp()),
		OrderBy:     orderBy,
		PartitionBy: partitionBy,
		Comment:     comment,
	}
}

// defaultFrom gives each column of cols with no From the field of its name
// under prefix.
func defaultFrom(prefix string, cols []Column) []Column {
	for i := range cols {
		if cols[i].From == "" {
			cols[i].From = prefix + cols[i].Name
		}
	}
	return cols
}

// str, i32, … shorten the column lists: a column of the given type whose
// value is the source's field of the same name (see jsonTable,
// EventTypedTable and genericTable), unless .from says where it is.
func str(name string) Column     { return Column{Name: name, Type: String} }
func i32(name string) Column     { return Column{Name: name, Type: Int32} }
func i64(name string) Column     { return Column{Name: name, Type: Int64} }
func f64(name string) Column     { return Column{Name: name, Type: Float64} }
func boolean(name string) Column { return Column{Name: name, Type: Bool} }
func ts(name string) Column      { return Column{Name: name, Type: DateTime} }
func day(name string) Column     { return Column{Name: name, Type: Date} }
func js(name string) Column      { return Column{Name: name, Type: JSON} }
func strs(name string) Column    { return Column{Name: name, Type: Strings} }

// from sets where c's value comes from.
func (c Column) from(path string) Column {
	c.From = path
	return c
}

// required marks c required.
func (c Column) required() Column {
	c.Required = true
	return c
}
