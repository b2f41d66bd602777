package schema

// commerceTables are fed by the commerce services: affiliate orders
// (affiliate.dx), the order service's logs (coffee.dx) and show votes
// (bigboss).
func commerceTables() []*Table {
	return []*Table{AffiliateOrderTable(), OrderLogTable(), ActivityTrackerTable(), BigBossVotesTable()}
}

// AffiliateOrderTable holds orders reported by affiliate networks for
// purchases the platform referred. A network reports an order again when
// its status changes (pending → approved/cancelled); updated_at is the
// version, so the latest report wins.
func AffiliateOrderTable() *Table {
	t := jsonTable("affiliate_order", Analytics, "orders reported by affiliate networks",
		[]string{"network", "id"}, "order_date",
		required(str("id", "id")),
		str("network", "network"),
		str("order_id", "order_id"),
		str("affiliate_id", "affiliate_id"),
		str("user_id", "user_id"),
		str("click_id", "click_id"),
		str("sub_id", "sub_id"),
		str("merchant", "merchant"),
		str("product_id", "product_id"),
		str("product_name", "product_name"),
		str("category", "category"),
		i32("quantity", "quantity"),
		f64("sale_amount", "sale_amount"),
		f64("commission", "commission"),
		str("currency", "currency"),
		str("status", "status"),
		required(ts("order_date", "order_date")),
		required(ts("updated_at", "$.updated_at|$.order_date")),
	)
	t.Version = "updated_at"
	return t
}

// OrderLogTable holds the order service's log of order changes: one row per
// change of an order (placed, paid, shipped, …).
func OrderLogTable() *Table {
	return jsonTable("order_log", Analytics, "order state changes from the order service",
		[]string{"order_id", "id"}, "created_at",
		required(str("id", "id")),
		required(str("order_id", "order_id")),
		str("user_id", "user_id"),
		str("merchant_id", "merchant_id"),
		str("status", "status"),
		str("previous_status", "previous_status"),
		str("payment_status", "payment_status"),
		str("payment_method", "payment_method"),
		f64("amount", "amount"),
		f64("discount", "discount"),
		f64("shipping_fee", "shipping_fee"),
		str("currency", "currency"),
		i32("item_count", "item_count"),
		strs("product_ids", "product_ids"),
		str("coupon_code", "coupon_code"),
		str("source", "source"),
		str("actor", "actor"),
		str("remarks", "remarks"),
		required(ts("created_at", "created_at")),
	)
}

// ActivityTrackerTable holds what users do in the shop that is not an
// order: views, follows of shops, wishlist changes, …
func ActivityTrackerTable() *Table {
	return jsonTable("activity_tracker", Analytics, "user activity in the shop",
		[]string{"activity_type", "id"}, "created_at",
		required(str("id", "id")),
		required(str("activity_type", "activity_type")),
		str("user_id", "user_id"),
		str("entity_type", "entity_type"),
		str("entity_id", "entity_id"),
		str("merchant_id", "merchant_id"),
		str("session_id", "session_id"),
		str("device_id", "device_id"),
		str("platform", "platform"),
		str("app_version", "app_version"),
		js("metadata", "metadata"),
		required(ts("created_at", "created_at")),
	)
}

// BigBossVotesTable holds the audience votes of the Bigg Boss show polls.
func BigBossVotesTable() *Table {
	return jsonTable("bigboss_votes", Analytics, "Bigg Boss audience votes",
		[]string{"poll_id", "id"}, "created_at",
		required(str("id", "id")),
		required(str("poll_id", "poll_id")),
		str("user_id", "user_id"),
		str("contestant_id", "contestant_id"),
		str("contestant_name", "contestant_name"),
		i32("season", "season"),
		i32("week", "week"),
		i32("vote_count", "vote_count"),
		str("platform", "platform"),
		str("device_id", "device_id"),
		str("ip", "ip"),
		required(ts("created_at", "created_at")),
	)
}
