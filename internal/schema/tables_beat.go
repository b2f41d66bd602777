package schema

// beatTables are fed by beat, the social-content service that tracks
// creators' profiles and posts on the social platforms (exchange beat.dx),
// plus entity_metric. Log messages carry no id of their own; their key is
// event_id (the message's, else the message id — see eventIDColumn).
func beatTables() []*Table {
	return []*Table{
		PostLogEventTable(),
		PostActivityLogTable(),
		SentimentLogTable(),
		ProfileLogTable(),
		ProfileRelationshipLogTable(),
		ScrapeRequestLogTable(),
		EntityMetricTable(),
	}
}

// PostLogEventTable holds snapshots of a social post's metrics, taken each
// time beat fetches the post.
func PostLogEventTable() *Table {
	return jsonTable("post_log_event", Analytics, "snapshots of social posts and their metrics",
		[]string{"platform", "post_id", "event_id"}, "captured_at",
		eventIDColumn(),
		required(str("post_id", "post_id")),
		str("platform", "platform"),
		str("profile_id", "profile_id"),
		str("handle", "handle"),
		str("post_type", "post_type"),
		str("url", "url"),
		str("caption", "caption"),
		ts("published_at", "published_at"),
		i64("likes", "likes"),
		i64("comments", "comments"),
		i64("views", "views"),
		i64("shares", "shares"),
		i64("saves", "saves"),
		i64("reach", "reach"),
		i64("impressions", "impressions"),
		f64("engagement_rate", "engagement_rate"),
		strs("hashtags", "hashtags"),
		strs("mentions", "mentions"),
		boolean("sponsored", "sponsored"),
		str("source", "source"),
		required(ts("captured_at", "captured_at")),
	)
}

// PostActivityLogTable holds what the platform's users do with posts
// (view, like, comment, share, save, report).
func PostActivityLogTable() *Table {
	return jsonTable("post_activity_log", Analytics, "user actions on posts",
		[]string{"activity", "event_id"}, "created_at",
		eventIDColumn(),
		required(str("post_id", "post_id")),
		required(str("activity", "activity")),
		str("user_id", "user_id"),
		str("profile_id", "profile_id"),
		str("platform", "platform"),
		str("comment_id", "comment_id"),
		str("comment_text", "comment_text"),
		i64("watch_time_ms", "watch_time_ms"),
		str("source", "source"),
		str("device_id", "device_id"),
		required(ts("created_at", "created_at")),
	)
}

// SentimentLogTable holds the sentiment scores of posts and comments.
func SentimentLogTable() *Table {
	return jsonTable("sentiment_log", Analytics, "sentiment analysis of posts and comments",
		[]string{"entity_type", "event_id"}, "created_at",
		eventIDColumn(),
		required(str("entity_id", "entity_id")),
		str("entity_type", "entity_type"),
		str("platform", "platform"),
		str("post_id", "post_id"),
		str("profile_id", "profile_id"),
		str("text", "text"),
		str("language", "language"),
		str("sentiment", "sentiment"),
		f64("score", "score"),
		f64("positive", "positive"),
		f64("negative", "negative"),
		f64("neutral", "neutral"),
		strs("emotions", "emotions"),
		str("model", "model"),
		str("model_version", "model_version"),
		required(ts("created_at", "created_at")),
	)
}

// ProfileLogTable holds snapshots of creators' social profiles.
func ProfileLogTable() *Table {
	return jsonTable("profile_log", Analytics, "snapshots of social profiles",
		[]string{"platform", "profile_id", "event_id"}, "captured_at",
		eventIDColumn(),
		required(str("profile_id", "profile_id")),
		str("platform", "platform"),
		str("handle", "handle"),
		str("full_name", "full_name"),
		str("category", "category"),
		i64("followers", "followers"),
		i64("following", "following"),
		i64("posts_count", "posts_count"),
		f64("avg_likes", "avg_likes"),
		f64("avg_comments", "avg_comments"),
		f64("avg_views", "avg_views"),
		f64("engagement_rate", "engagement_rate"),
		boolean("is_verified", "is_verified"),
		boolean("is_private", "is_private"),
		boolean("is_business", "is_business"),
		str("bio", "bio"),
		str("profile_pic_url", "profile_pic_url"),
		str("external_url", "external_url"),
		str("country", "country"),
		str("city", "city"),
		str("source", "source"),
		required(ts("captured_at", "captured_at")),
	)
}

// ProfileRelationshipLogTable holds changes of the edges between profiles
// (follows, mentions, collaborations).
func ProfileRelationshipLogTable() *Table {
	return jsonTable("profile_relationship_log", Analytics, "edges between social profiles",
		[]string{"platform", "source_profile_id", "event_id"}, "captured_at",
		eventIDColumn(),
		required(str("source_profile_id", "source_profile_id")),
		required(str("target_profile_id", "target_profile_id")),
		str("platform", "platform"),
		str("relationship", "relationship"),
		str("action", "action"),
		str("source_handle", "source_handle"),
		str("target_handle", "target_handle"),
		str("post_id", "post_id"),
		required(ts("captured_at", "captured_at")),
	)
}

// ScrapeRequestLogTable holds beat's fetches from the social platforms:
// what was asked, how it went.
func ScrapeRequestLogTable() *Table {
	return jsonTable("scrape_request_log", Analytics, "fetches from the social platforms",
		[]string{"platform", "event_id"}, "requested_at",
		eventIDColumn(),
		required(str("request_id", "request_id")),
		str("platform", "platform"),
		str("scrape_type", "scrape_type"),
		str("target", "target"),
		str("profile_id", "profile_id"),
		str("status", "status"),
		i32("http_status", "http_status"),
		str("error", "error"),
		i32("attempt", "attempt"),
		str("worker", "worker"),
		str("proxy", "proxy"),
		i64("items_scraped", "items_scraped"),
		i64("duration_ms", "duration_ms"),
		required(ts("requested_at", "requested_at")),
		ts("completed_at", "completed_at"),
	)
}

// EntityMetricTable holds metric samples of any entity (a post's views, a
// profile's followers, a product's sales) at a point in time. The sample is
// its own key: entity, metric and time; a second report of the same sample
// replaces the first (the later insert wins).
func EntityMetricTable() *Table {
	t := jsonTable("entity_metric", Analytics, "metric samples of entities over time",
		[]string{"entity_type", "entity_id", "metric", "timestamp"}, "timestamp",
		required(str("entity_type", "entity_type")),
		required(str("entity_id", "entity_id")),
		required(str("metric", "metric")),
		required(ts("timestamp", "timestamp")),
		f64("value", "value"),
		str("platform", "platform"),
		js("dimensions", "dimensions"),
		str("source", "source"),
	)
	t.Key = []string{"entity_type", "entity_id", "metric", "timestamp"}
	t.Version = "insert_timestamp"
	return t
}
