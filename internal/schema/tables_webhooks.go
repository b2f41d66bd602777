package schema

// webhookTables are fed by third-party webhooks (Branch, WebEngage, Graphy,
// Shopify, Vidooly), which the webhook ingest publishes as JSON.
func webhookTables() []*Table {
	return []*Table{BranchEventTable(), WebEngageEventTable(), GraphyEventTable(), ShopifyEventTable(), VidoolyEventTable()}
}

// BranchEventTable holds Branch's attribution webhook events, with Branch's
// field names as Branch spells them. Nested objects are kept as JSON
// columns; the user_data fields and the link fields of
// last_attributed_touch_data (~campaign, ~channel, …) are also flattened
// into columns of their own. Branch's id is the key; timestamp (epoch
// milliseconds) gives event_time, the partition.
func BranchEventTable() *Table {
	return jsonTable("branch_event", "Branch attribution webhook events",
		[]string{"name", "id"}, "event_time",
		str("id").required(),
		str("name").required(),
		str("customer_event_alias"),
		ts("event_time").from("timestamp").required(),
		i64("timestamp"),
		str("timestamp_iso"),
		i64("event_timestamp"),
		boolean("attributed"),
		boolean("deep_linked"),
		boolean("existing_user"),
		boolean("has_clicked"),
		boolean("has_app"),
		boolean("first_event_for_user"),
		i64("seconds_from_install"),
		i64("seconds_from_last_attributed_touch_timestamp"),
		i64("di_match_click_token"),
		i64("store_install_begin_timestamp"),
		i64("referrer_click_timestamp"),
		js("install_activity"),
		str("last_attributed_touch_type"),
		i64("last_attributed_touch_timestamp"),
		str("last_attributed_touch_timestamp_iso"),
		i64("days_from_last_attributed_touch_to_event"),
		i64("hours_from_last_attributed_touch_to_event"),
		i64("minutes_from_last_attributed_touch_to_event"),
		i64("seconds_from_last_attributed_touch_to_event"),
		i64("last_cta_view_timestamp"),
		str("origin"),
		str("organization_id"),
		str("organization_name"),
		str("user_data_os").from("user_data.os"),
		str("user_data_os_version").from("user_data.os_version"),
		str("user_data_platform").from("user_data.platform"),
		str("user_data_aaid").from("user_data.aaid"),
		str("user_data_idfa").from("user_data.idfa"),
		str("user_data_idfv").from("user_data.idfv"),
		str("user_data_developer_identity").from("user_data.developer_identity"),
		str("user_data_country").from("user_data.country"),
		str("user_data_language").from("user_data.language"),
		str("user_data_ip").from("user_data.ip"),
		str("user_data_user_agent").from("user_data.user_agent"),
		str("user_data_brand").from("user_data.brand"),
		str("user_data_model").from("user_data.model"),
		str("user_data_app_version").from("user_data.app_version"),
		str("user_data_environment").from("user_data.environment"),
		str("campaign").from("last_attributed_touch_data.~campaign"),
		str("campaign_id").from("last_attributed_touch_data.~campaign_id"),
		str("channel").from("last_attributed_touch_data.~channel"),
		str("feature").from("last_attributed_touch_data.~feature"),
		strs("tags").from("last_attributed_touch_data.~tags"),
		str("stage").from("last_attributed_touch_data.~stage"),
		str("advertising_partner_name").from("last_attributed_touch_data.~advertising_partner_name"),
		str("geo_country_en").from("user_data.geo_country_en"),
		str("geo_city_en").from("user_data.geo_city_en"),
		js("event_data"),
		js("custom_data"),
		js("content_items"),
		js("last_attributed_touch_data"),
		js("user_data"),
	)
}

// WebEngageEventTable keeps a copy of the events the platform sends to
// WebEngage, in the body form of WebEngage's Events API (userId, eventName,
// eventTime, eventData).
func WebEngageEventTable() *Table {
	return jsonTable("webengage_event", "events sent to WebEngage (Events API body)",
		[]string{"event_name", "event_id"}, "event_time",
		eventIDColumn(),
		str("event_name").from("eventName").required(),
		ts("event_time").from("eventTime").required(),
		str("user_id").from("userId"),
		str("anonymous_id").from("anonymousId"),
		str("license_code").from("licenseCode"),
		str("category"),
		js("event_data").from("eventData"),
		js("system_data").from("systemData"),
	)
}

// GraphyEventTable holds the webhooks of Graphy (the course platform):
// learner sign-ups, enrolments and payments.
func GraphyEventTable() *Table {
	return webhookEventTable("graphy_event", "Graphy (courses) webhook events",
		str("school_id"),
		str("learner_id").from("learner.id"),
		str("learner_email").from("learner.email"),
		str("learner_name").from("learner.name"),
		str("learner_phone").from("learner.phone"),
		str("product_id").from("product.id"),
		str("product_title").from("product.title"),
		str("product_type").from("product.type"),
		str("payment_id").from("payment.id"),
		f64("amount").from("payment.amount"),
		str("currency").from("payment.currency"),
		str("payment_status").from("payment.status"),
		str("payment_gateway").from("payment.gateway"),
		str("coupon_code").from("payment.coupon_code"),
	)
}

// ShopifyEventTable holds Shopify's webhooks (orders, mostly). The topic,
// shop and webhook id come from Shopify's headers, which the webhook ingest
// passes on as message headers in lower case. X-Shopify-Webhook-Id is the
// same on every retry of one delivery, so it is the key. The full body is
// kept in payload.
func ShopifyEventTable() *Table {
	return jsonTable("shopify_event", "Shopify webhooks (orders, customers, products)",
		[]string{"topic", "webhook_id"}, "insert_timestamp",
		str("webhook_id").from("header:x-shopify-webhook-id|meta.message_id").required(),
		str("topic").from("header:x-shopify-topic"),
		str("shop_domain").from("header:x-shopify-shop-domain"),
		str("api_version").from("header:x-shopify-api-version"),
		str("triggered_at").from("header:x-shopify-triggered-at"),
		str("id"),
		str("order_number"),
		str("name"),
		str("email"),
		str("phone"),
		str("customer_id").from("customer.id"),
		f64("total_price"),
		f64("subtotal_price"),
		f64("total_tax"),
		f64("total_discounts"),
		str("currency"),
		str("financial_status"),
		str("fulfillment_status"),
		str("gateway"),
		str("source_name"),
		ts("created_at"),
		ts("updated_at"),
		ts("cancelled_at"),
		js("payload").from("$"),
	)
}

// VidoolyEventTable holds Vidooly's video analytics webhooks: a snapshot of
// a channel's or a video's metrics for a day. Key: the webhook's id (else
// the message id); timestamp is the event time. The whole body is kept in
// data.
func VidoolyEventTable() *Table {
	return webhookEventTable("vidooly_event", "Vidooly video analytics webhooks (channel and video metrics)",
		str("account_id"),
		str("platform"),
		day("date"),
		str("channel_id").from("channel.id"),
		str("channel_title").from("channel.title"),
		i64("channel_subscribers").from("channel.subscribers"),
		str("video_id").from("video.id"),
		str("video_title").from("video.title"),
		ts("video_published_at").from("video.published_at"),
		i64("video_duration_seconds").from("video.duration_seconds"),
		i64("views").from("metrics.views"),
		i64("likes").from("metrics.likes"),
		i64("comments").from("metrics.comments"),
		i64("shares").from("metrics.shares"),
		i64("subscribers_gained").from("metrics.subscribers_gained"),
		i64("subscribers_lost").from("metrics.subscribers_lost"),
		f64("watch_time_minutes").from("metrics.watch_time_minutes"),
		f64("average_view_duration_seconds").from("metrics.average_view_duration_seconds"),
		i64("impressions").from("metrics.impressions"),
		f64("impressions_ctr").from("metrics.impressions_ctr"),
		f64("estimated_revenue").from("metrics.estimated_revenue"),
		str("currency").from("metrics.currency"),
	)
}

// webhookEventTable declares a table of a provider's webhook events that
// carry an id (else the message id is the key), an event name and an epoch
// timestamp: id, event, event_time, the provider's columns cols, then the
// whole body in data; deduplicated on (event, id), partitioned by
// event_time.
func webhookEventTable(name, comment string, cols ...Column) *Table {
	all := []Column{
		str("id").from("id|meta.message_id").required(),
		str("event").required(),
		ts("event_time").from("timestamp").required(),
	}
	all = append(all, cols...)
	all = append(all, js("data").from("$"))
	return jsonTable(name, comment, []string{"event", "id"}, "event_time", all...)
}
