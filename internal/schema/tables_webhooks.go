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
	return jsonTable("branch_event", Analytics, "Branch attribution webhook events",
		[]string{"name", "id"}, "event_time",
		required(str("id", "id")),
		required(str("name", "name")),
		str("customer_event_alias", "customer_event_alias"),
		required(ts("event_time", "timestamp")),
		i64("timestamp", "timestamp"),
		str("timestamp_iso", "timestamp_iso"),
		i64("event_timestamp", "event_timestamp"),
		boolean("attributed", "attributed"),
		boolean("deep_linked", "deep_linked"),
		boolean("existing_user", "existing_user"),
		boolean("has_clicked", "has_clicked"),
		boolean("has_app", "has_app"),
		boolean("first_event_for_user", "first_event_for_user"),
		i64("seconds_from_install", "seconds_from_install"),
		i64("seconds_from_last_attributed_touch_timestamp", "seconds_from_last_attributed_touch_timestamp"),
		i64("di_match_click_token", "di_match_click_token"),
		i64("store_install_begin_timestamp", "store_install_begin_timestamp"),
		i64("referrer_click_timestamp", "referrer_click_timestamp"),
		js("install_activity", "install_activity"),
		str("last_attributed_touch_type", "last_attributed_touch_type"),
		i64("last_attributed_touch_timestamp", "last_attributed_touch_timestamp"),
		str("last_attributed_touch_timestamp_iso", "last_attributed_touch_timestamp_iso"),
		i64("days_from_last_attributed_touch_to_event", "days_from_last_attributed_touch_to_event"),
		i64("hours_from_last_attributed_touch_to_event", "hours_from_last_attributed_touch_to_event"),
		i64("minutes_from_last_attributed_touch_to_event", "minutes_from_last_attributed_touch_to_event"),
		i64("seconds_from_last_attributed_touch_to_event", "seconds_from_last_attributed_touch_to_event"),
		i64("last_cta_view_timestamp", "last_cta_view_timestamp"),
		str("origin", "origin"),
		str("organization_id", "organization_id"),
		str("organization_name", "organization_name"),
		str("user_data_os", "user_data.os"),
		str("user_data_os_version", "user_data.os_version"),
		str("user_data_platform", "user_data.platform"),
		str("user_data_aaid", "user_data.aaid"),
		str("user_data_idfa", "user_data.idfa"),
		str("user_data_idfv", "user_data.idfv"),
		str("user_data_developer_identity", "user_data.developer_identity"),
		str("user_data_country", "user_data.country"),
		str("user_data_language", "user_data.language"),
		str("user_data_ip", "user_data.ip"),
		str("user_data_user_agent", "user_data.user_agent"),
		str("user_data_brand", "user_data.brand"),
		str("user_data_model", "user_data.model"),
		str("user_data_app_version", "user_data.app_version"),
		str("user_data_environment", "user_data.environment"),
		str("campaign", "last_attributed_touch_data.~campaign"),
		str("campaign_id", "last_attributed_touch_data.~campaign_id"),
		str("channel", "last_attributed_touch_data.~channel"),
		str("feature", "last_attributed_touch_data.~feature"),
		strs("tags", "last_attributed_touch_data.~tags"),
		str("stage", "last_attributed_touch_data.~stage"),
		str("advertising_partner_name", "last_attributed_touch_data.~advertising_partner_name"),
		str("geo_country_en", "user_data.geo_country_en"),
		str("geo_city_en", "user_data.geo_city_en"),
		js("event_data", "event_data"),
		js("custom_data", "custom_data"),
		js("content_items", "content_items"),
		js("last_attributed_touch_data", "last_attributed_touch_data"),
		js("user_data", "user_data"),
	)
}

// WebEngageEventTable keeps a copy of the events the platform sends to
// WebEngage, in the body form of WebEngage's Events API (userId, eventName,
// eventTime, eventData).
func WebEngageEventTable() *Table {
	return jsonTable("webengage_event", Analytics, "events sent to WebEngage (Events API body)",
		[]string{"event_name", "event_id"}, "event_time",
		eventIDColumn(),
		required(str("event_name", "eventName")),
		required(ts("event_time", "eventTime")),
		str("user_id", "userId"),
		str("anonymous_id", "anonymousId"),
		str("license_code", "licenseCode"),
		str("category", "category"),
		js("event_data", "eventData"),
		js("system_data", "systemData"),
	)
}

// GraphyEventTable holds the webhooks of Graphy (the course platform):
// learner sign-ups, enrolments and payments.
func GraphyEventTable() *Table {
	return jsonTable("graphy_event", Analytics, "Graphy (courses) webhook events",
		[]string{"event", "id"}, "event_time",
		required(str("id", "id|meta.message_id")),
		required(str("event", "event")),
		required(ts("event_time", "timestamp")),
		str("school_id", "school_id"),
		str("learner_id", "learner.id"),
		str("learner_email", "learner.email"),
		str("learner_name", "learner.name"),
		str("learner_phone", "learner.phone"),
		str("product_id", "product.id"),
		str("product_title", "product.title"),
		str("product_type", "product.type"),
		str("payment_id", "payment.id"),
		f64("amount", "payment.amount"),
		str("currency", "payment.currency"),
		str("payment_status", "payment.status"),
		str("payment_gateway", "payment.gateway"),
		str("coupon_code", "payment.coupon_code"),
		js("data", "$"),
	)
}

// ShopifyEventTable holds Shopify's webhooks (orders, mostly). The topic,
// shop and webhook id come from Shopify's headers, which the webhook ingest
// passes on as message headers in lower case. X-Shopify-Webhook-Id is the
// same on every retry of one delivery, so it is the key. The full body is
// kept in payload.
func ShopifyEventTable() *Table {
	return jsonTable("shopify_event", Analytics, "Shopify webhooks (orders, customers, products)",
		[]string{"topic", "webhook_id"}, "insert_timestamp",
		required(str("webhook_id", "header:x-shopify-webhook-id|meta.message_id")),
		str("topic", "header:x-shopify-topic"),
		str("shop_domain", "header:x-shopify-shop-domain"),
		str("api_version", "header:x-shopify-api-version"),
		str("triggered_at", "header:x-shopify-triggered-at"),
		str("id", "id"),
		str("order_number", "order_number"),
		str("name", "name"),
		str("email", "email"),
		str("phone", "phone"),
		str("customer_id", "customer.id"),
		f64("total_price", "total_price"),
		f64("subtotal_price", "subtotal_price"),
		f64("total_tax", "total_tax"),
		f64("total_discounts", "total_discounts"),
		str("currency", "currency"),
		str("financial_status", "financial_status"),
		str("fulfillment_status", "fulfillment_status"),
		str("gateway", "gateway"),
		str("source_name", "source_name"),
		ts("created_at", "created_at"),
		ts("updated_at", "updated_at"),
		ts("cancelled_at", "cancelled_at"),
		js("payload", "$"),
	)
}

// VidoolyEventTable holds Vidooly's video analytics webhooks: a snapshot of
// a channel's or a video's metrics for a day. Key: the webhook's id (else
// the message id); timestamp is the event time. The whole body is kept in
// data.
func VidoolyEventTable() *Table {
	return jsonTable("vidooly_event", Analytics, "Vidooly video analytics webhooks (channel and video metrics)",
		[]string{"event", "id"}, "event_time",
		required(str("id", "id|meta.message_id")),
		required(str("event", "event")),
		required(ts("event_time", "timestamp")),
		str("account_id", "account_id"),
		str("platform", "platform"),
		day("date", "date"),
		str("channel_id", "channel.id"),
		str("channel_title", "channel.title"),
		i64("channel_subscribers", "channel.subscribers"),
		str("video_id", "video.id"),
		str("video_title", "video.title"),
		ts("video_published_at", "video.published_at"),
		i64("video_duration_seconds", "video.duration_seconds"),
		i64("views", "metrics.views"),
		i64("likes", "metrics.likes"),
		i64("comments", "metrics.comments"),
		i64("shares", "metrics.shares"),
		i64("subscribers_gained", "metrics.subscribers_gained"),
		i64("subscribers_lost", "metrics.subscribers_lost"),
		f64("watch_time_minutes", "metrics.watch_time_minutes"),
		f64("average_view_duration_seconds", "metrics.average_view_duration_seconds"),
		i64("impressions", "metrics.impressions"),
		f64("impressions_ctr", "metrics.impressions_ctr"),
		f64("estimated_revenue", "metrics.estimated_revenue"),
		str("currency", "metrics.currency"),
		js("data", "$"),
	)
}
