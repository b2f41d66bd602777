package bench

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
)

// valueFunc returns the value of one payload field for a scene: a string,
// bool, int64 (also used for int32 fields), float64, []string,
// map[string]string, []*eventgrpcv1.FilterAppliedEvent_Filter or a
// *structpb.Struct (free-form properties); nil leaves
// the field unset this time.
type valueFunc func(s *scene) any

// vocabulary maps payload fields to plausible values. A key is either
// "Message.field", for a field whose meaning depends on its message, or
// "field", for a field that means the same everywhere. The lookup tries
// the first, then the second. A field with neither is a gap: the tests
// fail on gaps, so a field added to the proto gets realistic values here.
var vocabulary = map[string]valueFunc{
	// --- ids and catalogue -------------------------------------------------
	"product_id":         func(s *scene) any { return s.p.id },
	"variant_id":         func(s *scene) any { return orEmpty(s.r, 0.85, s.p.variant) },
	"product_name":       func(s *scene) any { return s.p.name },
	"brand":              func(s *scene) any { return s.p.brand },
	"category":           func(s *scene) any { return s.p.cat.name },
	"category_id":        func(s *scene) any { return s.p.cat.id },
	"category_name":      func(s *scene) any { return s.p.cat.name },
	"parent_category_id": func(s *scene) any { return s.p.cat.parent },
	"price":              func(s *scene) any { return s.p.price },
	"list_price":         func(s *scene) any { return s.p.listPrice },
	"in_stock":           func(s *scene) any { return s.p.inStock },
	"product_ids":        func(s *scene) any { return s.productIDs() },
	"product_count":      func(s *scene) any { return between(s.r, 24, 2400) },
	"ProductViewedEvent.rating": func(s *scene) any {
		return s.p.rating
	},
	"average_rating": func(s *scene) any { return s.p.rating },
	"cart_id":        func(s *scene) any { return s.cartID },
	"checkout_id":    func(s *scene) any { return s.checkoutID },
	"order_id":       func(s *scene) any { return s.orderID },
	"PaymentMethodSelectedEvent.order_id": func(s *scene) any {
		return orEmpty(s.r, 0.3, s.orderID) // only when an order already exists
	},
	"address_id":     func(s *scene) any { return s.addressID },
	"wishlist_id":    func(s *scene) any { return "wl_" + hexString(s.r, 12) },
	"transaction_id": func(s *scene) any { return "pay_" + base62(s.r, 14) },
	"refund_id":      func(s *scene) any { return fmt.Sprintf("rfd_%08d", s.r.IntN(100_000_000)) },
	"return_id":      func(s *scene) any { return fmt.Sprintf("ret_%08d", s.r.IntN(100_000_000)) },
	"review_id":      func(s *scene) any { return s.reviewID },
	"comment_id":     func(s *scene) any { return "cmt_" + base62(s.r, 12) },
	"parent_comment_id": func(s *scene) any {
		return orEmpty(s.r, 0.3, "cmt_"+base62(s.r, 12))
	},
	"content_id": func(s *scene) any { return s.contentID },
	"creator_id": func(s *scene) any { return s.creatorID },
	"video_id":   func(s *scene) any { return s.videoID },

	// --- money -------------------------------------------------------------
	"currency":        func(s *scene) any { return s.currency },
	"amount":          func(s *scene) any { return s.amount },
	"cart_value":      func(s *scene) any { return money(s.amount + s.discount - s.shipping) },
	"discount":        func(s *scene) any { return s.discount },
	"discount_amount": func(s *scene) any { return s.discount },
	"shipping_fee":    func(s *scene) any { return s.shipping },
	"tax":             func(s *scene) any { return money(s.amount * 18 / 118) }, // GST, included
	"refund_amount":   func(s *scene) any { return s.amount },
	"ReturnRequestedEvent.amount": func(s *scene) any {
		return money(s.p.price * float64(s.qty))
	},
	"GiftSentEvent.amount": func(s *scene) any { return orEmpty(s.r, 0.4, float64(between(s.r, 1, 50))*10) },
	"coupon_code":          func(s *scene) any { return couponOrNil(s) },
	"CouponAppliedEvent.coupon_code": func(s *scene) any {
		return pick(s.r, "FIRST50", "SAVE10", "FREESHIP", "DIWALI200", "BANK10")
	},
	"CouponRemovedEvent.coupon_code": func(s *scene) any {
		return pick(s.r, "FIRST50", "SAVE10", "FREESHIP", "DIWALI200", "BANK10")
	},
	"quantity":       func(s *scene) any { return s.qty },
	"item_count":     func(s *scene) any { return s.items },
	"payment_method": func(s *scene) any { return s.pay.method },
	"payment_provider": func(s *scene) any {
		return s.pay.provider
	},
	"gateway":          func(s *scene) any { return s.pay.gateway },
	"saved_instrument": func(s *scene) any { return chance(s.r, 0.4) },
	"cod":              func(s *scene) any { return s.pay.method == "cod" },
	"auto_applied":     func(s *scene) any { return chance(s.r, 0.25) },
	"user_cancelled":   func(s *scene) any { return s.fail.code == "USER_CANCELLED" },
	"estimated_delivery_days": func(s *scene) any {
		return between(s.r, 2, 7)
	},
	"refund_method": func(s *scene) any { return pick(s.r, "original", "original", "wallet", "bank") },
	"return_type":   func(s *scene) any { return pick(s.r, "refund", "refund", "exchange") },
	"cancelled_by":  func(s *scene) any { return pick(s.r, "user", "user", "user", "seller", "system") },

	// --- pages, screens, widgets -------------------------------------------
	"page_name":        func(s *scene) any { return s.pg.name },
	"page_url":         func(s *scene) any { return s.pageURL(s.pg) },
	"page_type":        func(s *scene) any { return s.pg.typ },
	"previous_page":    func(s *scene) any { return s.prev.name },
	"screen":           func(s *scene) any { return s.pg.name },
	"source_page":      func(s *scene) any { return s.prev.name },
	"target_screen":    func(s *scene) any { return s.pg.name },
	"source_widget_id": func(s *scene) any { return orEmpty(s.r, 0.4, s.w.id) },
	"widget_id":        func(s *scene) any { return s.w.id },
	"widget_type":      func(s *scene) any { return s.w.typ },
	"widget_title":     func(s *scene) any { return s.w.title },
	"widget_position":  func(s *scene) any { return s.w.position },
	"WidgetViewEvent.page_name": func(s *scene) any {
		return s.w.page
	},
	"WidgetCtaClickedEvent.page_name":     func(s *scene) any { return s.w.page },
	"WidgetElementViewEvent.page_name":    func(s *scene) any { return s.w.page },
	"WidgetElementClickedEvent.page_name": func(s *scene) any { return s.w.page },
	"WidgetViewEvent.position":            func(s *scene) any { return s.w.position },
	"WidgetCtaClickedEvent.position":      func(s *scene) any { return s.w.position },
	"ClickEvent.widget_id":                func(s *scene) any { return orEmpty(s.r, 0.5, s.w.id) },
	"element_count":                       func(s *scene) any { return s.w.elements },
	"element_position":                    func(s *scene) any { return s.r.Int64N(s.w.elements) },
	"element_id":                          func(s *scene) any { return s.elementID() },
	"element_type":                        func(s *scene) any { return s.elemType },
	"WidgetElementViewEvent.product_id": func(s *scene) any {
		return elementProduct(s)
	},
	"WidgetElementClickedEvent.product_id": func(s *scene) any { return elementProduct(s) },
	"ClickEvent.element_id": func(s *scene) any {
		return pick(s.r, "btn_add_to_cart", "btn_buy_now", "btn_filters", "tab_live", "icon_search", "btn_share", "link_size_chart")
	},
	"ClickEvent.element_type": func(s *scene) any { return pick(s.r, "button", "button", "link", "icon", "tab") },
	"ClickEvent.element_text": func(s *scene) any {
		return pick(s.r, "Add to cart", "Buy now", "Filters", "Live", "Search", "Share", "Size chart")
	},
	"x":          func(s *scene) any { return money(s.r.Float64() * 412) },
	"y":          func(s *scene) any { return money(s.r.Float64() * 915) },
	"cta_text":   func(s *scene) any { return pick(s.r, "View all", "Shop now", "See more", "Explore") },
	"cta_url":    func(s *scene) any { return "/c/" + strings.TrimPrefix(s.p.cat.id, "cat_") },
	"target_url": func(s *scene) any { return "/p/" + s.p.id },
	"WidgetElementClickedEvent.target_url": func(s *scene) any {
		switch s.elemType {
		case "stream":
			return "/live/" + s.st.id
		case "category":
			return "/c/" + strings.TrimPrefix(s.p.cat.id, "cat_")
		case "banner":
			return "/sale/" + s.n.campaignID
		}
		return "/p/" + s.p.id
	},
	"BannerViewEvent.target_url": func(s *scene) any {
		return "/sale/" + s.n.campaignID
	},
	"BannerClickEvent.target_url": func(s *scene) any { return "/sale/" + s.n.campaignID },
	"banner_id":                   func(s *scene) any { return fmt.Sprintf("bnr_%04d", s.r.IntN(400)) },
	"campaign_id":                 func(s *scene) any { return s.n.campaignID },
	"creative_url": func(s *scene) any {
		return fmt.Sprintf("https://cdn.example.com/banners/%s_1080x400.webp", s.n.campaignID)
	},
	"position":      func(s *scene) any { return skewed(s.r, 0, 40) },
	"load_time_ms":  func(s *scene) any { return skewed(s.r, 120, 6000) },
	"from_cache":    func(s *scene) any { return chance(s.r, 0.35) },
	"widget_count":  func(s *scene) any { return between(s.r, 3, 18) },
	"error_code":    func(s *scene) any { return s.fail.code },
	"error_message": func(s *scene) any { return s.fail.message },
	"http_status":   func(s *scene) any { return int64(s.fail.http) },
	"retry_count":   func(s *scene) any { return skewed(s.r, 0, 3) },

	// --- search and discovery ----------------------------------------------
	"query":           func(s *scene) any { return s.query },
	"search_id":       func(s *scene) any { return s.searchID },
	"result_count":    func(s *scene) any { return skewed(s.r, 0, 1200) },
	"corrected_query": func(s *scene) any { return orEmpty(s.r, 0.1, s.query) },
	"voice":           func(s *scene) any { return chance(s.r, 0.05) },
	"input_type": func(s *scene) any {
		return pick(s.r, "typed", "typed", "suggestion", "recent", "trending")
	},
	"SearchEvent.filters": func(s *scene) any {
		return []string{"brand:" + s.p.brand, "price:" + pick(s.r, "0-499", "500-999", "1000-2999")}[:s.r.IntN(3)]
	},
	"FilterAppliedEvent.filters": func(s *scene) any {
		return []*eventgrpcv1.FilterAppliedEvent_Filter{
			{Key: "brand", Values: []string{s.p.brand}},
			{Key: pick(s.r, "size", "colour", "price"), Values: []string{pick(s.r, "M", "L", "Black", "500-999")}},
		}
	},
	"SearchEvent.sort": func(s *scene) any {
		return pick(s.r, "relevance", "relevance", "price_asc", "price_desc", "newest", "popularity")
	},
	"ViewAllReviews.sort": func(s *scene) any { return pick(s.r, "most_helpful", "newest", "highest", "lowest") },
	"sort_by":             func(s *scene) any { return pick(s.r, "price", "popularity", "newest", "rating") },
	"sort_order":          func(s *scene) any { return pick(s.r, "asc", "desc") },
	"FilterAppliedEvent.query": func(s *scene) any {
		return orEmpty(s.r, 0.5, s.query)
	},
	"SortAppliedEvent.query": func(s *scene) any { return orEmpty(s.r, 0.5, s.query) },
	"result_id":              func(s *scene) any { return s.p.id },
	"result_type": func(s *scene) any {
		return pick(s.r, "product", "product", "product", "stream", "user", "category", "brand")
	},

	// --- live streams, feed, video -----------------------------------------
	"stream_id":    func(s *scene) any { return s.st.id },
	"streamer_id":  func(s *scene) any { return s.st.streamerID },
	"stream_title": func(s *scene) any { return s.st.title },
	"viewer_count": func(s *scene) any { return s.st.viewers },
	"is_live":      func(s *scene) any { return chance(s.r, 0.8) },
	"ProductViewedEvent.stream_id": func(s *scene) any {
		return orEmpty(s.r, 0.15, s.st.id) // only when opened from a stream
	},
	"AddToCartEvent.stream_id":          func(s *scene) any { return orEmpty(s.r, 0.15, s.st.id) },
	"FollowEvent.stream_id":             func(s *scene) any { return orEmpty(s.r, 0.3, s.st.id) },
	"SocialStreamEnterEvent.stream_id":  func(s *scene) any { return s.contentID },
	"SocialStreamActionEvent.stream_id": func(s *scene) any { return s.contentID },
	"watch_duration_ms":                 func(s *scene) any { return skewed(s.r, 2_000, 3_600_000) },
	"exit_reason": func(s *scene) any {
		return pick(s.r, "back", "back", "swipe", "stream_ended", "app_background")
	},
	"like_count":   func(s *scene) any { return skewed(s.r, 1, 60) },
	"position_ms":  func(s *scene) any { return s.r.Int64N(s.videoDurMs) },
	"text_length":  func(s *scene) any { return skewed(s.r, 2, 500) },
	"recipient_id": func(s *scene) any { return s.st.streamerID },
	"gift_id":      func(s *scene) any { return pick(s.r, "gft_rose", "gft_heart", "gft_crown", "gft_rocket") },
	"gift_name":    func(s *scene) any { return pick(s.r, "Rose", "Heart", "Crown", "Rocket") },
	"coin_value":   func(s *scene) any { return s.qty * pick(s.r, int64(1), 10, 99, 499) },
	"feed_type":    func(s *scene) any { return pick(s.r, "for_you", "for_you", "following", "trending", "creator") },
	"target_type":  func(s *scene) any { return pick(s.r, "creator", "creator", "brand", "store", "user") },
	"target_id":    func(s *scene) any { return s.creatorID },
	"SocialStreamActionEvent.target_id": func(s *scene) any {
		return s.p.id
	},
	"SocialStreamActionEvent.target_type": func(s *scene) any { return pick(s.r, "product", "creator", "post") },
	"content_type":                        func(s *scene) any { return pick(s.r, "post", "video", "review", "comment", "product") },
	"ShareEvent.content_type":             func(s *scene) any { return pick(s.r, "product", "product", "stream", "post", "video", "app") },
	"CommentEvent.content_type":           func(s *scene) any { return pick(s.r, "post", "video", "product") },
	"VideoPlayEvent.content_type": func(s *scene) any {
		return pick(s.r, "product_video", "short", "short", "stream_replay", "ad")
	},
	"share_url":     func(s *scene) any { return siteURL + "/p/" + s.p.id + "?ref=share" },
	"mention_count": func(s *scene) any { return skewed(s.r, 0, 3) },
	"duration_ms":   func(s *scene) any { return s.videoDurMs },
	"watched_ms":    func(s *scene) any { return s.r.Int64N(s.videoDurMs) },
	"replay_count":  func(s *scene) any { return skewed(s.r, 0, 3) },
	"autoplay":      func(s *scene) any { return chance(s.r, 0.7) },
	"muted":         func(s *scene) any { return chance(s.r, 0.6) },
	"quality":       func(s *scene) any { return pick(s.r, "auto", "auto", "720p", "1080p", "480p") },
	"VideoPauseEvent.reason": func(s *scene) any {
		return pick(s.r, "user", "scroll_away", "scroll_away", "app_background", "buffering")
	},

	// --- app lifecycle -----------------------------------------------------
	"launch_source": func(s *scene) any {
		return pick(s.r, "icon", "icon", "icon", "push", "deep_link", "widget", "shortcut")
	},
	"deep_link":       func(s *scene) any { return orEmpty(s.r, 0.3, s.n.deepLink) },
	"notification_id": func(s *scene) any { return s.n.id },
	"LaunchEvent.notification_id": func(s *scene) any {
		return orEmpty(s.r, 0.2, s.n.id)
	},
	"cold_start":     func(s *scene) any { return chance(s.r, 0.6) },
	"launch_time_ms": func(s *scene) any { return skewed(s.r, 250, 5000) },
	"start_type":     func(s *scene) any { return pick(s.r, "cold", "cold", "warm", "hot") },
	"app_version":    func(s *scene) any { return pick(s.r, "5.12.0", "5.12.0", "5.11.2", "5.10.4") },
	"build_number":   func(s *scene) any { return pick(s.r, "51200", "51200", "51102", "51004") },
	"first_start":    func(s *scene) any { return chance(s.r, 0.04) },
	"first_launch":   func(s *scene) any { return chance(s.r, 0.04) },
	"after_update":   func(s *scene) any { return chance(s.r, 0.06) },
	"install_source": func(s *scene) any {
		return pick(s.r, "play_store", "play_store", "app_store", "apk", "preinstall")
	},
	"config_version": func(s *scene) any { return pick(s.r, "rc-2024.11.3", "rc-2024.11.2") },
	"failed_sdks": func(s *scene) any {
		if chance(s.r, 0.1) {
			return []string{pick(s.r, "firebase_perf", "appsflyer", "sentry", "maps")}
		}
		return nil
	},
	"foreground_duration_ms": func(s *scene) any { return skewed(s.r, 3_000, 3_600_000) },
	"background_duration_ms": func(s *scene) any { return skewed(s.r, 1_000, 86_400_000) },
	"AppForegroundEvent.source": func(s *scene) any {
		return pick(s.r, "icon", "push", "deep_link", "app_switcher", "app_switcher")
	},
	"previous_session_id": func(s *scene) any { return uuid4(s.r) },
	"new_session_id":      func(s *scene) any { return uuid4(s.r) },
	"SessionIdChangeEvent.reason": func(s *scene) any {
		return pick(s.r, "timeout", "timeout", "login", "logout", "app_restart")
	},
	"idle_ms": func(s *scene) any { return between(s.r, 1_800_000, 14_400_000) },

	// --- errors ------------------------------------------------------------
	"error_type": func(s *scene) any { return pick(s.r, "network", "network", "crash", "anr", "validation", "sdk") },
	"stack_trace": func(s *scene) any {
		return "java.net.SocketTimeoutException: timeout\n\tat okhttp3.internal.http2.Http2Stream.waitForIo(Http2Stream.kt:675)\n\tat com.shop.feed.FeedRepository.load(FeedRepository.kt:88)"
	},
	"fatal":     func(s *scene) any { return chance(s.r, 0.08) },
	"handled":   func(s *scene) any { return chance(s.r, 0.75) },
	"component": func(s *scene) any { return pick(s.r, "feed", "checkout", "payments-sdk", "player", "network", "cart") },

	// --- experiments, tests, custom ----------------------------------------
	"experiment_id":      func(s *scene) any { return s.exp.id },
	"experiment_name":    func(s *scene) any { return s.exp.name },
	"variant":            func(s *scene) any { return pick(s.r, s.exp.variants...) },
	"bucket":             func(s *scene) any { return s.r.Int64N(100) },
	"assigned_at":        func(s *scene) any { return s.ago(30 * 24 * 3_600_000) },
	"exposed":            func(s *scene) any { return chance(s.r, 0.7) },
	"forced":             func(s *scene) any { return chance(s.r, 0.02) },
	"TestEvent.name":     func(s *scene) any { return pick(s.r, "smoke_ingest", "sdk_integration_check", "pipeline_probe") },
	"value":              func(s *scene) any { return pick(s.r, "ok", "ping", "hello") },
	"number":             func(s *scene) any { return s.r.Int64N(1000) },
	"flag":               func(s *scene) any { return chance(s.r, 0.5) },
	"tags":               func(s *scene) any { return []string{"bench", pick(s.r, "smoke", "canary", "sdk")} },
	"CustomEvent.name":   func(s *scene) any { return customNames[s.custom] },
	"CustomEvent.params": func(s *scene) any { return customParams(s) },

	// --- notifications -----------------------------------------------------
	"title":   func(s *scene) any { return s.n.title },
	"channel": func(s *scene) any { return pick(s.r, "push", "push", "push", "in_app") },
	"ShareEvent.channel": func(s *scene) any {
		return pick(s.r, "whatsapp", "whatsapp", "instagram", "copy_link", "system")
	},
	"ReferralSharedEvent.channel": func(s *scene) any { return pick(s.r, "whatsapp", "whatsapp", "sms", "copy_link", "system") },
	"NotificationActionEvent.action": func(s *scene) any {
		return pick(s.r, "open", "open", "open", "dismiss", "button")
	},
	"action_id":  func(s *scene) any { return orEmpty(s.r, 0.2, pick(s.r, "btn_shop_now", "btn_remind_me", "btn_track")) },
	"foreground": func(s *scene) any { return chance(s.r, 0.3) },
	"NotificationActionEvent.deep_link": func(s *scene) any {
		return s.n.deepLink
	},
	"SocialStreamActionEvent.action": func(s *scene) any {
		return pick(s.r, "like", "like", "like", "share", "comment", "save", "follow", "shop")
	},
	"RatingPromptEvent.action": func(s *scene) any { return pick(s.r, "shown", "rated", "dismissed", "later") },
	"status": func(s *scene) any {
		return pick(s.r, "granted", "granted", "denied", "provisional", "not_determined")
	},
	"prompt_type":       func(s *scene) any { return pick(s.r, "system", "soft") },
	"previously_denied": func(s *scene) any { return chance(s.r, 0.2) },
	"PushPermissionEvent.source": func(s *scene) any {
		return pick(s.r, "onboarding", "onboarding", "order_placed", "settings")
	},

	// --- deep links and attribution ----------------------------------------
	"url": func(s *scene) any { return siteURL + "/p/" + s.p.id + "?utm_source=whatsapp" },
	"DeepLinkOpenedEvent.source": func(s *scene) any {
		return pick(s.r, "push", "sms", "email", "web", "social", "social")
	},
	"campaign": func(s *scene) any { return pick(s.r, attributions...).campaign },
	"deferred": func(s *scene) any { return chance(s.r, 0.1) },
	"resolved": func(s *scene) any { return chance(s.r, 0.95) },
	"referrer_id": func(s *scene) any {
		return fmt.Sprintf("usr_%07d", 1_000_000+s.r.IntN(37_000))
	},
	"referral_code": func(s *scene) any {
		return pick(s.r, "RAHUL", "PRIYA", "ANKIT", "SNEHA", "VIKRAM") + fmt.Sprint(between(s.r, 10, 99))
	},
	"SignupEvent.referral_code": func(s *scene) any { return orEmpty(s.r, 0.2, "PRIYA"+fmt.Sprint(between(s.r, 10, 99))) },
	"LaunchReferEvent.source": func(s *scene) any {
		return pick(s.r, "google", "facebook", "referral", "instagram")
	},
	"medium": func(s *scene) any { return pick(s.r, "cpc", "social", "email", "referral") },
	"install_referrer": func(s *scene) any {
		a := pick(s.r, attributions...)
		return "utm_source=" + a.source + "&utm_medium=" + a.medium + "&utm_campaign=" + a.campaign
	},

	// --- reviews and rating ------------------------------------------------
	"SubmitReview.rating": func(s *scene) any {
		return pick(s.r, int64(5), 5, 5, 4, 4, 3, 2, 1)
	},
	"RatingPromptEvent.rating": func(s *scene) any { return pick(s.r, int64(0), 0, 5, 5, 4, 3) },
	"SubmitReview.title": func(s *scene) any {
		return pick(s.r, "Great quality", "Value for money", "Not as expected", "Perfect fit", "Colour faded after wash")
	},
	"existing_review": func(s *scene) any { return chance(s.r, 0.1) },
	"image_count":     func(s *scene) any { return skewed(s.r, 0, 4) },
	"video_count":     func(s *scene) any { return skewed(s.r, 0, 1) },
	"anonymous":       func(s *scene) any { return chance(s.r, 0.1) },
	"review_count":    func(s *scene) any { return skewed(s.r, 1, 8000) },
	"filter":          func(s *scene) any { return pick(s.r, "all", "all", "with_images", "5_star", "verified") },
	"image_url": func(s *scene) any {
		return fmt.Sprintf("https://cdn.example.com/reviews/%s_%d.jpg", s.reviewID, s.r.IntN(4))
	},
	"image_index":   func(s *scene) any { return skewed(s.r, 0, 3) },
	"prompt_id":     func(s *scene) any { return pick(s.r, "rate_prompt_v3", "rate_prompt_v4") },
	"trigger":       func(s *scene) any { return pick(s.r, "order_delivered", "third_purchase", "app_open_5") },
	"sent_to_store": func(s *scene) any { return chance(s.r, 0.3) },
	"InitiateReview.source": func(s *scene) any {
		return pick(s.r, "order_details", "order_details", "pdp", "push", "email")
	},
	"EnterReviewScreen.source": func(s *scene) any { return pick(s.r, "order_details", "pdp", "push", "email") },

	// --- account, login, verification --------------------------------------
	"country_code": func(s *scene) any { return pick(s.r, "+91", "+91", "+91", "+91", "+971", "+1") },
	"method":       func(s *scene) any { return pick(s.r, "sms", "sms", "whatsapp", "call") },
	"LoginEvent.method": func(s *scene) any {
		return pick(s.r, "phone", "phone", "phone", "email", "google", "apple", "facebook")
	},
	"SignupEvent.method": func(s *scene) any { return pick(s.r, "phone", "phone", "email", "google", "apple", "facebook") },
	"PhoneVerificationInitiateEvent.source": func(s *scene) any {
		return pick(s.r, "login", "login", "signup", "checkout", "profile")
	},
	"attempt":           func(s *scene) any { return skewed(s.r, 1, 4) },
	"phone_hash":        func(s *scene) any { return hexString(s.r, 64) },
	"valid":             func(s *scene) any { return chance(s.r, 0.92) },
	"autofilled":        func(s *scene) any { return chance(s.r, 0.45) },
	"auto_read":         func(s *scene) any { return chance(s.r, 0.6) },
	"time_to_verify_ms": func(s *scene) any { return skewed(s.r, 4_000, 120_000) },
	"success":           func(s *scene) any { return s.success },
	"failure_reason":    func(s *scene) any { return failureReason(s) },
	"session_duration_ms": func(s *scene) any {
		return skewed(s.r, 60_000, 30*24*3_600_000)
	},
	"LogoutEvent.reason": func(s *scene) any {
		return pick(s.r, "user", "user", "session_expired", "forced", "account_deleted")
	},
	"ProfileUpdatedEvent.changed_fields": func(s *scene) any {
		return []string{"name", "email", "gender", "date_of_birth"}[:1+s.r.IntN(4)]
	},
	"AddressUpdatedEvent.changed_fields": func(s *scene) any {
		return []string{"postal_code", "city", "address_type", "landmark"}[:1+s.r.IntN(4)]
	},
	"avatar_changed": func(s *scene) any { return chance(s.r, 0.2) },

	// --- addresses ---------------------------------------------------------
	"city":              func(s *scene) any { return s.pl.city },
	"state":             func(s *scene) any { return s.pl.state },
	"country":           func(s *scene) any { return "IN" },
	"postal_code":       func(s *scene) any { return s.pl.postal + fmt.Sprintf("%02d", 1+s.r.IntN(99)) },
	"address_type":      func(s *scene) any { return pick(s.r, "home", "home", "work", "other") },
	"is_default":        func(s *scene) any { return chance(s.r, 0.4) },
	"location_detected": func(s *scene) any { return chance(s.r, 0.5) },

	// --- reasons of orders, returns, refunds, coupons ----------------------
	"OrderCancelledEvent.reason": func(s *scene) any {
		return pick(s.r, "changed_my_mind", "found_cheaper", "delivery_too_slow", "ordered_by_mistake")
	},
	"ReturnRequestedEvent.reason": func(s *scene) any {
		return pick(s.r, "size_too_small", "size_too_large", "damaged", "not_as_described", "wrong_item")
	},
	"RefundRequestedEvent.reason": func(s *scene) any {
		return pick(s.r, "item_not_received", "damaged", "return_picked_up")
	},
	"CouponRemovedEvent.reason": func(s *scene) any { return pick(s.r, "user", "cart_changed", "expired", "invalid") },

	// --- where things came from (generic: the previous screen) -------------
	"source": func(s *scene) any { return s.prev.name },
	"PageOpenedEvent.source": func(s *scene) any {
		return pick(s.r, "tab", "widget", "widget", "search", "push", "deep_link", "back")
	},
	"ProductViewedEvent.source": func(s *scene) any {
		return pick(s.r, "search", "widget", "widget", "listing", "stream", "deep_link")
	},
	"StreamEnterEvent.source": func(s *scene) any { return pick(s.r, "feed", "feed", "push", "search", "deep_link") },
	"SocialStreamEnterEvent.source": func(s *scene) any {
		return pick(s.r, "tab", "tab", "push", "deep_link")
	},
	"CategoryViewedEvent.source": func(s *scene) any { return pick(s.r, "menu", "widget", "search") },
	"RemoveFromCartEvent.source": func(s *scene) any { return pick(s.r, "cart", "cart", "mini_cart", "checkout") },

	// --- the generic events (Segment's calls): names, and free-form
	// properties and traits as a Struct, nested and of every JSON kind ---
	"TrackEvent.name": func(s *scene) any {
		return pick(s.r, "Order Completed", "Product Added", "Signed Up", "Checkout Started", "Coupon Applied")
	},
	"TrackEvent.properties": func(s *scene) any {
		return structOf(map[string]any{
			"revenue":  s.amount,
			"currency": s.currency,
			"coupon":   s.coupon,
			"items":    []any{map[string]any{"product_id": s.p.id, "price": s.p.price, "quantity": float64(s.qty)}},
			"first":    s.success,
		})
	},
	"IdentifyEvent.traits": func(s *scene) any {
		return structOf(map[string]any{"plan": pick(s.r, "free", "pro", "team"), "logins": float64(between(s.r, 1, 400)), "address": map[string]any{"city": s.pl.city}})
	},
	"PageEvent.name": func(s *scene) any { return s.pg.name },
	"PageEvent.properties": func(s *scene) any {
		return structOf(map[string]any{"path": "/" + s.pg.name, "referrer": "/" + s.prev.name, "search": s.query})
	},
	"ScreenEvent.name": func(s *scene) any { return s.pg.name },
	"ScreenEvent.properties": func(s *scene) any {
		return structOf(map[string]any{"previous": s.prev.name, "load_ms": float64(between(s.r, 40, 2400))})
	},
	"GroupEvent.group_id": func(s *scene) any { return "org_" + base62(s.r, 8) },
	"GroupEvent.traits": func(s *scene) any {
		return structOf(map[string]any{"name": pick(s.r, "Acme", "Globex", "Initech"), "employees": float64(between(s.r, 2, 5000))})
	},
	"AliasEvent.previous_id": func(s *scene) any { return "anon_" + hexString(s.r, 16) },
}

// elementProduct is the product a widget element shows: set for product
// tiles, and for some stream tiles (the product pinned in the stream).
func elementProduct(s *scene) any {
	switch s.elemType {
	case "product":
		return s.p.id
	case "stream":
		return orEmpty(s.r, 0.5, s.p.id)
	}
	return nil
}

func couponOrNil(s *scene) any {
	if s.coupon == "" {
		return nil
	}
	return s.coupon
}

// failureReason fills failure_reason only when the attempt failed, with a
// reason that fits the message.
func failureReason(s *scene) any {
	if s.success {
		return nil
	}
	switch s.msg {
	case "OTPVerifiedEvent":
		return pick(s.r, "wrong_otp", "expired", "too_many_attempts")
	case "CouponAppliedEvent":
		return pick(s.r, "min_cart_value_not_met", "expired", "not_applicable")
	case "SignupEvent":
		return pick(s.r, "phone_exists", "network", "invalid_email")
	default:
		return pick(s.r, "wrong_otp", "network", "account_blocked", "cancelled")
	}
}

// customNames are the client-side event types sent as CustomEvent;
// customParams gives each its own parameters.
var customNames = []string{"PollVotedEvent", "QuizAnsweredEvent", "StoryViewedEvent", "ScratchCardRevealedEvent"}

func customParams(s *scene) map[string]string {
	switch s.custom {
	case 0:
		return map[string]string{"poll_id": fmt.Sprintf("poll_%04d", s.r.IntN(500)), "option": pick(s.r, "a", "b", "c"), "stream_id": s.st.id}
	case 1:
		return map[string]string{"quiz_id": fmt.Sprintf("quiz_%03d", s.r.IntN(100)), "correct": pick(s.r, "true", "false"), "time_ms": fmt.Sprint(skewed(s.r, 800, 20_000))}
	case 2:
		return map[string]string{"story_id": fmt.Sprintf("sty_%06d", s.r.IntN(1_000_000)), "creator_id": s.creatorID, "position": fmt.Sprint(s.r.IntN(10))}
	default:
		return map[string]string{"card_id": "scr_" + base62(s.r, 8), "reward": pick(s.r, "coins_10", "coupon_50", "better_luck")}
	}
}

// structOf is m as a google.protobuf.Struct.
func structOf(m map[string]any) *structpb.Struct {
	st, err := structpb.NewStruct(m)
	if err != nil {
		panic("bench: vocabulary: " + err.Error()) // the maps above hold JSON kinds only
	}
	return st
}
