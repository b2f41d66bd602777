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
var vidooly = spec{
	name:     "vidooly",
	env:      "VIDOOLY",
	path:     "/vidooly/event",
	exchange: "vidooly_event.dx",
	verify:   verifyToken,
	parse:    parseVidooly,
	keyFrom:  "the routing key",
	idFrom:   "the message id",
}

var vidoolyTable = schema.VidoolyEventTable()

func parseVidooly(req *request) (parsed, error) {
	objs, hdr, err := checkedObjects(req, "vidooly", vidoolyTable)
	if err != nil {
		return parsed{}, err
	}
	return parsed{msgs: []broker.Message{message("vidooly", "", objs, hdr)}, events: len(objs)}, nil
}
