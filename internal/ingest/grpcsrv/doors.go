package grpcsrv

import (
	"context"
	"errors"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/proto"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/event"
	"github.com/event-grpc/event-grpc/internal/ingest"
)

// tap runs when a call's headers arrive, before grpc-go reads its
// message: the credentials in the headers (Config.Tap), then the
// reservation of the most the message may be, then the read deadline.
// A refusal here is answered before the call starts, so it can carry no
// trailer: its hint goes in the status details.
func (s *Server) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	if info.FullMethodName != dispatchMethod {
		return ctx, nil
	}
	if s.cfg.Tap != nil {
		var err error
		if ctx, err = s.cfg.Tap(ctx, info); err != nil {
			return ctx, err
		}
	}
	if s.cfg.Budget == nil && s.cfg.ReadTimeout <= 0 {
		return ctx, nil
	}
	c := &call{budget: s.cfg.Budget}
	if c.budget != nil {
		n := int64(s.cfg.MaxRecvBytes)
		if err := c.budget.Reserve(n); err != nil {
			st := ingest.StatusOf(err)
			return ctx, withRetryInfo(status.New(st.GRPC, err.Error()), st.RetryAfter).Err()
		}
		c.held = n
	}
	// grpc-go reads the message under this context: cancelling it ends a
	// read that waits for bytes that do not come.
	ctx, c.cancel = context.WithCancel(ctx)
	if s.cfg.ReadTimeout > 0 {
		c.timer = time.AfterFunc(s.cfg.ReadTimeout, c.expire)
	}
	return context.WithValue(ctx, callKey{}, c), nil
}

type callKey struct{}

// call is one dispatch call's hold on the budget, from its headers to its
// end.
type call struct {
	budget ingest.Budget // nil: none
	cancel context.CancelFunc
	timer  *time.Timer // nil: no read deadline
	mu     sync.Mutex
	held   int64
	read   bool // the message was read and decoded
	ended  bool
}

// expire cuts off a call whose message did not arrive in time: what it
// held is freed and its read fails.
func (c *call) expire() {
	c.mu.Lock()
	if c.read || c.ended {
		c.mu.Unlock()
		return
	}
	c.releaseLocked(0)
	c.mu.Unlock()
	if c.budget != nil {
		c.budget.Refused(ingest.RefusedReadTimeout)
	}
	c.cancel()
}

// decoded: the message (size bytes) was read and decoded; the call now
// holds its size instead of the most a message may be.
func (c *call) decoded(size int64) {
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Lock()
	c.read = true
	c.releaseLocked(size)
	c.mu.Unlock()
}

// end frees what the call holds. Safe to call twice.
func (c *call) end() {
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Lock()
	c.ended = true
	c.releaseLocked(0)
	c.mu.Unlock()
	c.cancel()
}

// releaseLocked lowers the hold to keep bytes.
func (c *call) releaseLocked(keep int64) {
	if c.budget != nil && c.held > keep {
		c.budget.Release(c.held - keep)
		c.held = keep
	}
}

// dispatch is EventService.dispatch's method handler: it reads the
// message through the pre-scan (bounded), frees the call's reservation
// down to the message's size, and runs the interceptors and Dispatch as
// the generated handler would.
func (s *Server) dispatch(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	c, _ := ctx.Value(callKey{}).(*call)
	if c != nil {
		defer c.end()
	}
	in := &bounded{max: s.cfg.MaxEvents, msg: new(eventgrpcv1.Events)}
	if err := dec(in); err != nil {
		// grpc-go has answered the client already (a read cut off by the
		// deadline is CANCELLED).
		return nil, err
	}
	if in.err != nil {
		if s.cfg.Budget != nil && errors.Is(in.err, event.ErrTooManyEvents) {
			s.cfg.Budget.Refused(ingest.RefusedTooManyEvents)
		}
		return nil, Status(ctx, in.err)
	}
	if c != nil {
		c.decoded(int64(in.size))
	}
	if interceptor == nil {
		return s.Dispatch(ctx, in.msg)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: dispatchMethod}
	return interceptor(ctx, in.msg, info, func(ctx context.Context, req any) (any, error) {
		return s.Dispatch(ctx, req.(*eventgrpcv1.Events))
	})
}

// bounded is what dispatch asks the codec to decode into: an Events
// message of at most max events (0: any number).
type bounded struct {
	max  int
	msg  *eventgrpcv1.Events
	size int   // the message's encoded size
	err  error // the pre-scan's refusal; msg is then left empty
}

// codec is grpc-go's proto codec, with a pre-scan for bounded: the
// events are counted on the wire bytes (event.CountEvents) and a message
// of more than max is refused before it is decoded — an empty event is
// two bytes on the wire and about a hundred decoded.
type codec struct{ base encoding.CodecV2 }

func newCodec() codec { return codec{base: encoding.GetCodecV2("proto")} }

func (c codec) Name() string { return c.base.Name() }

func (c codec) Marshal(v any) (mem.BufferSlice, error) { return c.base.Marshal(v) }

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	b, ok := v.(*bounded)
	if !ok {
		return c.base.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	raw := buf.ReadOnlyData()
	b.size = len(raw)
	if b.max > 0 {
		if _, err := event.CountEvents(raw, b.max); err != nil {
			// Not a codec error: grpc-go would answer it as INTERNAL
			// itself; dispatch answers the refusal with its own code.
			b.err = err
			return nil
		}
	}
	return proto.Unmarshal(raw, b.msg)
}
