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
	t := jsonTable("affiliate_order", "orders reported by affiliate networks",
		[]string{"network", "id"}, "order_date",
		str("id").required(),
		str("network"),
		str("order_id"),
		str("affiliate_id"),
		str("user_id"),
		str("click_id"),
		str("sub_id"),
		str("merchant"),
		str("product_id"),
		str("product_name"),
		str("category"),
		i32("quantity"),
		f64("sale_amount"),
		f64("commission"),
		str("currency"),
		str("status"),
		ts("order_date").required(),
		ts("updated_at").from("$.updated_at|$.order_date").required(),
	)
	t.Version = "updated_at"
	return t
}

// OrderLogTable holds the order service's log of order changes: one row per
// change of an order (placed, paid, shipped, …).
func OrderLogTable() *Table {
	return jsonTable("order_log", "order state changes from the order service",
		[]string{"order_id", "id"}, "created_at",
		str("id").required(),
		str("order_id").required(),
		str("user_id"),
		str("merchant_id"),
		str("status"),
		str("previous_status"),
		str("payment_status"),
		str("payment_method"),
		f64("amount"),
		f64("discount"),
		f64("shipping_fee"),
		str("currency"),
		i32("item_count"),
		strs("product_ids"),
		str("coupon_code"),
		str("source"),
		str("actor"),
		str("remarks"),
		ts("created_at").required(),
	)
}

// ActivityTrackerTable holds what users do in the shop that is not an
// order: views, follows of shops, wishlist changes, …
func ActivityTrackerTable() *Table {
	return jsonTable("activity_tracker", "user activity in the shop",
		[]string{"activity_type", "id"}, "created_at",
		str("id").required(),
		str("activity_type").required(),
		str("user_id"),
		str("entity_type"),
		str("entity_id"),
		str("merchant_id"),
		str("session_id"),
		str("device_id"),
		str("platform"),
		str("app_version"),
		js("metadata"),
		ts("created_at").required(),
	)
}

// BigBossVotesTable holds the audience votes of the Bigg Boss show polls.
func BigBossVotesTable() *Table {
	return jsonTable("bigboss_votes", "Bigg Boss audience votes",
		[]string{"poll_id", "id"}, "created_at",
		str("id").required(),
		str("poll_id").required(),
		str("user_id"),
		str("contestant_id"),
		str("contestant_name"),
		i32("season"),
		i32("week"),
		i32("vote_count"),
		str("platform"),
		str("device_id"),
		str("ip"),
		ts("created_at").required(),
	)
}
