package landing

import (
	"strings"

	"github.com/event-grpc/event-grpc/internal/event"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// OtherLabel is the type label of every routing key that is not a known
// name: webhook event names (Branch's "name", Graphy's "event") and the
// keys other services publish come from request content, and a label per
// value would grow the metric without bound.
const OtherLabel = "other"

// webhookNames are the event names of the providers' own documentation
// that keep a label of their own (Branch's standard events, Graphy's
// event types); any other name folds into OtherLabel.
var webhookNames = []string{
	"INSTALL", "REINSTALL", "OPEN", "PURCHASE", "ADD_TO_CART", "ADD_TO_WISHLIST", "VIEW_CART",
	"INITIATE_PURCHASE", "ADD_PAYMENT_INFO", "COMPLETE_REGISTRATION", "LOGIN", "SEARCH", "SHARE",
	"VIEW_ITEM", "VIEW_ITEMS", "RATE", "SUBSCRIBE", "START_TRIAL", "CLICK_AD", "VIEW_AD",
	"learner.signup", "course.enrolled", "course.completed", "payment.success", "payment.failed",
}

// keyLabels is the set of routing keys of q that are label values as they
// are: q's literal binding keys, the proto's event types for an events
// queue, the providers' documented event names.
func keyLabels(q topology.Queue) map[string]bool {
	known := map[string]bool{}
	for _, b := range q.Bindings {
		if !strings.ContainsAny(b.Key, "*#") {
			known[b.Key] = true
		}
	}
	if q.Handler == topology.HandlerEvents {
		for _, n := range event.Names() {
			known[n] = true
		}
	}
	for _, n := range webhookNames {
		known[n] = true
	}
	return known
}

// typeLabel bounds the type label: a CustomEvent's own name is not a
// label, nor is any routing key outside known.
func typeLabel(known map[string]bool, key string) string {
	switch {
	case strings.HasPrefix(key, "CustomEvent."):
		return "CustomEvent"
	case key == "":
		return "unknown"
	case known[key]:
		return key
	}
	return OtherLabel
}
