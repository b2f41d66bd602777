package webhook

import (
	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/schema"
)

// Vidooly: video analytics webhooks — a channel's or a video's metrics for
// a day, a JSON object (or an array of them) with "id", "event"
// ("video.metrics", "channel.metrics"), "timestamp", "channel", "video" and
// "metrics" (see docs/messages.md). Vidooly publishes no signature scheme:
// the shared token goes in X-Webhook-Token or ?token=.
//
// The request lands in vidooly_event as one message on vidooly_event.dx,
// routing key "vidooly".
var vidooly = tokenSpec("vidooly", "vidooly_event.dx", vidoolyTable, "the routing key", func(objs []object, hdr map[string]string) parsed {
	return parsed{msgs: []broker.Message{message("vidooly", "", objs, hdr)}, events: len(objs)}
})

var vidoolyTable = schema.VidoolyEventTable()
