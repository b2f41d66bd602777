package jetstream

import (
	"fmt"
	"sort"
	"strings"

	"github.com/event-grpc/event-grpc/internal/topology"
)

// Header names the backend adds to every stored message so that a delivery
// knows where the message was first published. They are removed from
// Delivery.Headers.
const (
	headerExchange    = "x-exchange"
	headerRoutingKey  = "x-routing-key"
	headerContentType = "x-content-type"
	// headerMessageID carries Message.ID through retries and dead letters
	// (Nats-Msg-Id changes with each republish).
	headerMessageID = "x-message-id"
	// natsMsgID is the header JetStream de-duplicates publishes on.
	natsMsgID = "Nats-Msg-Id"
)

// internalHeader reports whether a header is set by this backend or by NATS
// rather than by the publisher.
func internalHeader(k string) bool {
	switch k {
	case headerExchange, headerRoutingKey, headerContentType, headerMessageID:
		return true
	}
	return strings.HasPrefix(k, "Nats-")
}

// token turns a queue name into a subject token and consumer name: letters,
// digits, '-' and '_' stay, everything else (the '.' of "q.error" above
// all) becomes '_'. Two names that map to the same token are rejected by
// newNames.
func token(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// queueNames is how one topology queue (or error queue) appears in
// JetStream.
type queueNames struct {
	queue   string // topology name
	stream  string // the queue's own stream, bounded for it alone
	durable string // consumer name
	subject string // the only subject the stream holds and the consumer reads
	// owner is the queue whose dead letters this error queue holds; empty
	// for a normal queue.
	owner string
}

// names maps the topology's queues and error queues to JetStream names.
type names struct {
	stream    string // the prefix of every stream and subject
	byQueue   map[string]queueNames
	bySubject map[string]string // subject → its stream
}

func newNames(stream string, top *topology.Topology) (*names, error) {
	n := &names{stream: stream, byQueue: map[string]queueNames{}, bySubject: map[string]string{}}
	byToken := map[string]string{}
	var errs []string
	add := func(name, owner string) {
		tok := token(name)
		if tok == "" {
			errs = append(errs, fmt.Sprintf("queue %q has an empty name", name))
			return
		}
		if other, dup := byToken[tok]; dup && other != name {
			errs = append(errs, fmt.Sprintf("queues %q and %q both map to the JetStream name %q; rename one", other, name, tok))
			return
		}
		byToken[tok] = name
		qn := queueNames{
			queue:   name,
			stream:  stream + "_" + tok,
			durable: tok,
			subject: stream + ".q." + tok,
			owner:   owner,
		}
		n.byQueue[name] = qn
		n.bySubject[qn.subject] = qn.stream
	}
	for _, q := range top.Queues {
		add(q.Name, "")
		add(q.ErrorQueue(), q.Name)
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return nil, fmt.Errorf("jetstream: %s", strings.Join(errs, "; "))
	}
	return n, nil
}

// legacySubjects are the subjects of the single stream that held every
// queue before each queue had a stream of its own (see migrateLegacy).
func legacySubjects(stream string) []string { return []string{stream + ".q.>"} }

// parkedSubjects are what the legacy stream is moved to while its
// messages are handed to the queues' streams: subjects nothing publishes
// to, so the queues' streams can take the old ones.
func parkedSubjects(stream string) []string { return []string{stream + ".legacy.>"} }
