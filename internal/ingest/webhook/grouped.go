package webhook

import "github.com/event-grpc/event-grpc/internal/schema"

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
