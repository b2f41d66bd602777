package webhook

import (
	"github.com/event-grpc/event-grpc/internal/schema"
)

// Graphy: the webhooks of Graphy, the course platform — learner sign-ups,
// enrolments, payments. A JSON object (or an array of them) with the event
// type in "event" ("learner.signup", "course.enrolled", "payment.success"),
// its time in "timestamp", the learner, product and payment as objects (see
// docs/messages.md). Graphy publishes no signature scheme: the shared
// token goes in X-Webhook-Token or ?token=.
//
// Each event lands in graphy_event; the routing key on graphy_event.tx is
// the event type, its dots kept as word separators.
var graphy = tokenSpec("graphy", "graphy_event.tx", graphyTable, "the event field", func(objs []object, hdr map[string]string) parsed {
	return byKey(objs, hdr, func(o object) string { return words(text(o.doc, "event")) })
})

var graphyTable = schema.GraphyEventTable()
