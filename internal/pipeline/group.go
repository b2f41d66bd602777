package pipeline

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/dedupe"
	"github.com/event-grpc/event-grpc/internal/event"
)

// request is one Dispatch on its way through the pipeline: its accepted
// events encoded once, grouped by routing key, and cut into chunks per
// destination (a queue where the broker routes at publish time, else a
// routing key), each chunk small enough for one broker message. Requests
// are pooled: their buffers are reused by later requests.
type request struct {
	ctx    context.Context
	src    Source
	events []*eventgrpcv1.Event
	st     []uint8   // per request index: stRejected, stPublish, stDuplicate
	v      []verdict // per request index, kept when Dedupe decides later

	header []byte  // the encoded Header field of Events, tag included
	enc    []byte  // the accepted events' encoded Event fields, tag included, back to back
	span   []int32 // per request index: start of the event's field in enc, or -1
	end    []int32 // per request index: end of the event's field in enc
	pre    []byte  // stable encodings of events as sent (see stable), back to back
	pspan  []int32 // per request index: start of its field in pre, or -1
	pend   []int32 // per request index: end of its field in pre
	keyOf  []int32 // per request index: its key group, or -1

	groups []keyGroup
	byKey  map[string]int32
	chunks []chunk
	byDest map[string]int32 // destination → its open chunk

	claimed []int32      // request indexes whose ids were claimed from Dedupe
	keys    []string     // per claimed entry: its window key (sender scope and id)
	sums    []dedupe.Sum // per claimed entry: the event's content digest
	failed  []error      // per request index: why publishing failed; nil = durable
	bytes   int          // what the request holds of the byte budget

	done  chan struct{}
	state atomic.Int32 // requestRunning, requestDone, requestAbandoned
}

// Fates of one event of a request.
const (
	stRejected  uint8 = iota // invalid, in flight elsewhere, or too large: Results says why
	stPublish                // to be published (r.failed says how it went)
	stDuplicate              // published before (Dedupe): accepted as is
)

const (
	requestRunning int32 = iota
	requestDone
	requestAbandoned
)

// keyGroup is a request's accepted events of one routing key.
type keyGroup struct {
	key    string
	typ    string   // the metric label
	queues []string // destinations when the broker routes at publish time
	idx    []int32  // request indexes
}

// chunk is a request's events for one destination that fit one message.
type chunk struct {
	dest   string // queue or routing key
	key    string // routing key of the message; "" when mixed
	idx    []int32
	bytes  int // of the part: header + events, without its length prefix
	events int
	batch  *batch // the message it travels in
}

var requestPool = sync.Pool{New: func() any {
	return &request{byKey: map[string]int32{}, byDest: map[string]int32{}}
}}

func getRequest(src Source, events []*eventgrpcv1.Event) *request {
	r := requestPool.Get().(*request)
	r.src, r.events = src, events
	n := len(events)
	r.span = grow(r.span, n)
	r.end = grow(r.end, n)
	r.pspan = grow(r.pspan, n)
	r.pend = grow(r.pend, n)
	r.keyOf = grow(r.keyOf, n)
	if cap(r.st) < n {
		r.st = make([]uint8, n)
		r.v = make([]verdict, n)
	}
	r.st, r.v = r.st[:n], r.v[:n]
	if cap(r.failed) < n {
		r.failed = make([]error, n)
	}
	r.failed = r.failed[:n]
	r.done = make(chan struct{})
	r.state.Store(requestRunning)
	return r
}

func grow(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n)
	}
	return s[:n]
}

// extend is s one element longer: the one past its end when its array has
// room (release left it there with its idx emptied, for reuse), else a
// zero one appended.
func extend[T any](s []T) []T {
	if len(s) < cap(s) {
		return s[:len(s)+1]
	}
	var zero T
	return append(s, zero)
}

// release returns r to the pool. Nothing may touch r afterwards.
func (r *request) release() {
	r.events, r.ctx = nil, nil
	clear(r.st)
	clear(r.v)
	r.header = r.header[:0]
	if cap(r.enc) > 4<<20 {
		r.enc = nil // do not keep a rare giant
	}
	r.enc = r.enc[:0]
	if cap(r.pre) > 4<<20 {
		r.pre = nil
	}
	r.pre = r.pre[:0]
	for i := range r.groups {
		r.groups[i] = keyGroup{idx: r.groups[i].idx[:0]}
	}
	r.groups = r.groups[:0]
	clear(r.byKey)
	for i := range r.chunks {
		r.chunks[i] = chunk{idx: r.chunks[i].idx[:0]}
	}
	r.chunks = r.chunks[:0]
	clear(r.byDest)
	r.claimed = r.claimed[:0]
	clear(r.keys)
	r.keys = r.keys[:0]
	r.sums = r.sums[:0]
	clear(r.failed)
	r.bytes = 0
	requestPool.Put(r)
}

// setHeader encodes the request header once; every part repeats it.
func (r *request) setHeader(h *eventgrpcv1.Header) error {
	var err error
	r.header, err = event.AppendHeaderField(r.header, h)
	return err
}

// stable encodes event i as sent, deterministically, into r.pre, and
// returns its content digest and encoded size. add then copies that field
// instead of encoding the event a second time, unless normalize changed
// the event (pspan reset to -1). When ev cannot be encoded the digest is
// unknown (the zero Sum) and the size -1.
func (r *request) stable(i int, ev *eventgrpcv1.Event) (dedupe.Sum, int) {
	start := len(r.pre)
	out, body, err := event.AppendStableEventField(r.pre, ev)
	if err != nil {
		return dedupe.Sum{}, -1
	}
	r.pre = out
	r.pspan[i], r.pend[i] = int32(start), int32(len(out))
	return digest(body), len(body)
}

// add encodes the accepted event i under key and puts it in its group.
func (r *request) add(i int, key, typ string) error {
	start := len(r.enc)
	if s := r.pspan[i]; s >= 0 {
		r.enc = append(r.enc, r.pre[s:r.pend[i]]...)
	} else {
		var err error
		if r.enc, err = event.AppendEventField(r.enc, r.events[i]); err != nil {
			return err
		}
	}
	r.span[i], r.end[i] = int32(start), int32(len(r.enc))

	g, ok := r.byKey[key]
	if !ok {
		g = int32(len(r.groups))
		r.byKey[key] = g
		r.groups = extend(r.groups)
		r.groups[g].key, r.groups[g].typ = key, typ
	}
	r.groups[g].idx = append(r.groups[g].idx, int32(i))
	r.keyOf[i] = g
	return nil
}

// cut groups the request's events into chunks per destination, each at
// most maxEvents events and maxBytes bytes as a message part (its length
// prefix and the request header included). queues resolves a routing key
// to the queues it reaches; nil means the destination is the key itself.
// An event that cannot fit any message with its header is failed with
// tooBig (it is rejected by index).
func (r *request) cut(maxEvents, maxBytes int, queues func(key string) []string, tooBig func(i int, size int), noRoute func(key string) error) {
	room := maxBytes - len(r.header) - event.PartSizeLen(maxBytes)
	for gi := range r.groups {
		g := &r.groups[gi]
		dests := []string{g.key}
		if queues != nil {
			g.queues = queues(g.key)
			dests = g.queues
			if len(dests) == 0 {
				err := noRoute(g.key)
				for _, i := range g.idx {
					r.failed[i] = err
				}
				continue
			}
		}
		for _, i := range g.idx {
			size := int(r.end[i] - r.span[i])
			if size > room {
				tooBig(int(i), size+len(r.header))
				continue
			}
			for _, d := range dests {
				c, ok := r.byDest[d]
				if ok {
					ch := &r.chunks[c]
					if ch.events+1 > maxEvents || ch.bytes+size > room+len(r.header) {
						ok = false
					}
				}
				if !ok {
					c = int32(len(r.chunks))
					r.byDest[d] = c
					r.chunks = extend(r.chunks)
					ch := &r.chunks[c]
					ch.dest, ch.key, ch.bytes = d, g.key, len(r.header)
				}
				ch := &r.chunks[c]
				if ch.key != g.key {
					ch.key = ""
				}
				ch.idx = append(ch.idx, i)
				ch.bytes += size
				ch.events++
			}
		}
	}
}

// appendPart appends chunk c as one size-delimited Events to body.
func (r *request) appendPart(body []byte, c *chunk) []byte {
	body = event.AppendPartSize(body, c.bytes)
	body = append(body, r.header...)
	for _, i := range c.idx {
		body = append(body, r.enc[r.span[i]:r.end[i]]...)
	}
	return body
}

// errTooBig is the reason of an event too large for any broker message.
func errTooBig(i, size, limit int) error {
	return fmt.Errorf("event %d with its request header is %d bytes encoded; the largest broker message is %d bytes (PUBLISH_MAX_BYTES or the broker's limit)", i, size, limit)
}
