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
	return jsonTable("post_log_event", "snapshots of social posts and their metrics",
		[]string{"platform", "post_id", "event_id"}, "captured_at",
		eventIDColumn(),
		str("post_id").required(),
		str("platform"),
		str("profile_id"),
		str("handle"),
		str("post_type"),
		str("url"),
		str("caption"),
		ts("published_at"),
		i64("likes"),
		i64("comments"),
		i64("views"),
		i64("shares"),
		i64("saves"),
		i64("reach"),
		i64("impressions"),
		f64("engagement_rate"),
		strs("hashtags"),
		strs("mentions"),
		boolean("sponsored"),
		str("source"),
		ts("captured_at").required(),
	)
}

// PostActivityLogTable holds what the platform's users do with posts
// (view, like, comment, share, save, report).
func PostActivityLogTable() *Table {
	return jsonTable("post_activity_log", "user actions on posts",
		[]string{"activity", "event_id"}, "created_at",
		eventIDColumn(),
		str("post_id").required(),
		str("activity").required(),
		str("user_id"),
		str("profile_id"),
		str("platform"),
		str("comment_id"),
		str("comment_text"),
		i64("watch_time_ms"),
		str("source"),
		str("device_id"),
		ts("created_at").required(),
	)
}

// SentimentLogTable holds the sentiment scores of posts and comments.
func SentimentLogTable() *Table {
	return jsonTable("sentiment_log", "sentiment analysis of posts and comments",
		[]string{"entity_type", "event_id"}, "created_at",
		eventIDColumn(),
		str("entity_id").required(),
		str("entity_type"),
		str("platform"),
		str("post_id"),
		str("profile_id"),
		str("text"),
		str("language"),
		str("sentiment"),
		f64("score"),
		f64("positive"),
		f64("negative"),
		f64("neutral"),
		strs("emotions"),
		str("model"),
		str("model_version"),
		ts("created_at").required(),
	)
}

// ProfileLogTable holds snapshots of creators' social profiles.
func ProfileLogTable() *Table {
	return jsonTable("profile_log", "snapshots of social profiles",
		[]string{"platform", "profile_id", "event_id"}, "captured_at",
		eventIDColumn(),
		str("profile_id").required(),
		str("platform"),
		str("handle"),
		str("full_name"),
		str("category"),
		i64("followers"),
		i64("following"),
		i64("posts_count"),
		f64("avg_likes"),
		f64("avg_comments"),
		f64("avg_views"),
		f64("engagement_rate"),
		boolean("is_verified"),
		boolean("is_private"),
		boolean("is_business"),
		str("bio"),
		str("profile_pic_url"),
		str("external_url"),
		str("country"),
		str("city"),
		str("source"),
		ts("captured_at").required(),
	)
}

// ProfileRelationshipLogTable holds changes of the edges between profiles
// (follows, mentions, collaborations).
func ProfileRelationshipLogTable() *Table {
	return jsonTable("profile_relationship_log", "edges between social profiles",
		[]string{"platform", "source_profile_id", "event_id"}, "captured_at",
		eventIDColumn(),
		str("source_profile_id").required(),
		str("target_profile_id").required(),
		str("platform"),
		str("relationship"),
		str("action"),
		str("source_handle"),
		str("target_handle"),
		str("post_id"),
		ts("captured_at").required(),
	)
}

// ScrapeRequestLogTable holds beat's fetches from the social platforms:
// what was asked, how it went.
func ScrapeRequestLogTable() *Table {
	return jsonTable("scrape_request_log", "fetches from the social platforms",
		[]string{"platform", "event_id"}, "requested_at",
		eventIDColumn(),
		str("request_id").required(),
		str("platform"),
		str("scrape_type"),
		str("target"),
		str("profile_id"),
		str("status"),
		i32("http_status"),
		str("error"),
		i32("attempt"),
		str("worker"),
		str("proxy"),
		i64("items_scraped"),
		i64("duration_ms"),
		ts("requested_at").required(),
		ts("completed_at"),
	)
}

// EntityMetricTable holds metric samples of any entity (a post's views, a
// profile's followers, a product's sales) at a point in time. The sample is
// its own key: entity, metric and time; a second report of the same sample
// replaces the first (the later insert wins).
func EntityMetricTable() *Table {
	t := jsonTable("entity_metric", "metric samples of entities over time",
		[]string{"entity_type", "entity_id", "metric", "timestamp"}, "timestamp",
		str("entity_type").required(),
		str("entity_id").required(),
		str("metric").required(),
		ts("timestamp").required(),
		f64("value"),
		str("platform"),
		js("dimensions"),
		str("source"),
	)
	t.Key = []string{"entity_type", "entity_id", "metric", "timestamp"}
	t.Version = "insert_timestamp"
	return t
}
