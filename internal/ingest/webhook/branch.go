package webhook

import (
	"github.com/event-grpc/event-grpc/internal/schema"
)

// Branch: the attribution webhooks of Branch (branch.io). Branch posts one
// event per request, as a JSON object with Branch's own field names (name,
// id, timestamp, user_data, last_attributed_touch_data, event_data,
// custom_data, content_items, …). Branch does not sign its webhooks; the
// URL registered in Branch's dashboard carries the shared token
// (…/branch/event?token=SECRET), or a proxy adds X-Webhook-Token.
//
// An array of events is accepted too. Each event lands in branch_event; the
// routing key on branch_event.tx is the event name made a routing-key word
// (INSTALL, OPEN, PURCHASE, Video_Played).
var branch = tokenSpec("branch", "branch_event.tx", branchTable, "the name field", func(objs []object, hdr map[string]string) parsed {
	return byKey(objs, hdr, func(o object) string { return word(text(o.doc, "name")) })
})

var branchTable = schema.BranchEventTable()
