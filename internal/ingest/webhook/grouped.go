package webhook

import (
	"strings"

	"github.com/event-grpc/event-grpc/internal/schema"
)

// checkedObjects reads the JSON objects of req's body (one, or an array)
// and checks each against t, with provider's base headers; it returns the
// objects and those headers.
func checkedObjects(req *request, provider string, t *schema.Table) ([]object, map[string]string, error) {
	objs, err := objects(req.body)
	if err != nil {
		return nil, nil, err
	}
	hdr := baseHeaders(provider, req.now)
	if err := checkAll(t, objs, hdr, req.now); err != nil {
		return nil, nil, err
	}
	return objs, hdr, nil
}

// byKey makes one message of the objects of each routing key (key of an
// object), in the order the keys first appear, each with a copy of hdr.
func byKey(objs []object, hdr map[string]string, key func(object) string) parsed {
	var p parsed
	for _, g := range groupBy(objs, key) {
		p.msgs = append(p.msgs, message(g.key, "", g.objs, cloneHeaders(hdr)))
	}
	p.events = len(objs)
	return p
}

// tokenSpec is a provider verified by the shared token (verifyToken) that
// posts JSON events to /<name>/event, configured by <NAME>_* variables,
// whose events all land in table: a request's checked objects are made
// into messages for exchange by route; keyFrom names where their routing
// key comes from.
func tokenSpec(name, exchange string, table *schema.Table, keyFrom string, route func(objs []object, hdr map[string]string) parsed) spec {
	return spec{
		name: name, env: strings.ToUpper(name), path: "/" + name + "/event", exchange: exchange,
		verify: verifyToken,
		parse: func(req *request) (parsed, error) {
			objs, hdr, err := checkedObjects(req, name, table)
			if err != nil {
				return parsed{}, err
			}
			return route(objs, hdr), nil
		},
		keyFrom: keyFrom, idFrom: "the message id",
	}
}
