package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
)

// run is the sending goroutine: it sends full batches at once, the rest
// every FlushInterval or when Flush asks, one request at a time.
func (c *Client) run() {
	defer close(c.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	tick := time.NewTicker(c.cfg.FlushInterval)
	defer tick.Stop()
	due := false
	for {
		for ctx.Err() == nil {
			out := c.OptedOut()
			batch := c.take(due || out)
			if batch == nil {
				break
			}
			if out {
				c.drop(len(batch), errors.New("opted out before these events were sent"))
				c.settle(batch[len(batch)-1].seq)
				c.release(batch[len(batch)-1].seq)
				continue
			}
			c.syncJournal() // what is sent is on disk first
			c.deliver(ctx, batch)
		}
		due = false
		select {
		case <-ctx.Done():
			c.giveUp(errors.New("closed before these events could be sent (Close's deadline)"))
			return
		case <-c.wake:
		case <-tick.C:
			due = true
		}
	}
}

// take pops the next batch when one should be sent: a full one always;
// a partial one when due, on Flush, or once closed.
func (c *Client) take(due bool) []item {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		return nil
	}
	n, bytes := 0, 0
	for n < len(c.queue) && n < c.cfg.MaxBatchEvents && (n == 0 || bytes+c.queue[n].size <= c.cfg.MaxBatchBytes) {
		bytes += c.queue[n].size
		n++
	}
	full := n < len(c.queue) || n == c.cfg.MaxBatchEvents
	if !full && !due && !c.closed && c.flushTo <= c.settled {
		return nil
	}
	batch := make([]item, n)
	copy(batch, c.queue[:n])
	clear(c.queue[:n]) // let the events be collected once sent
	c.queue = c.queue[n:]
	if len(c.queue) == 0 {
		c.queue = c.queue[:0:0]
	}
	c.qbytes -= int64(bytes)
	return batch
}

// deliver sends batch until every event of it is delivered, rejected for
// good, or ctx ends (then the rest is dropped, or saved in StateDir), and
// marks it settled.
func (c *Client) deliver(ctx context.Context, batch []item) {
	last := batch[len(batch)-1].seq
	defer c.settle(last)
	if c.sendBatch(ctx, batch) {
		c.release(last)
	}
}

// sendBatch is deliver's loop; it reports whether every event was settled
// for good (delivered, rejected), so the journal may let them go.
func (c *Client) sendBatch(ctx context.Context, batch []item) bool {
	pending := batch
	backoff := c.cfg.MinBackoff
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			c.count(func(s *Stats) { s.Retries++ })
		}
		c.debug("sending", "events", len(pending), "attempt", attempt+1)
		req := &eventgrpcv1.Events{Header: c.cfg.Header, Events: make([]*eventgrpcv1.Event, len(pending))}
		for i, it := range pending {
			req.Events[i] = it.ev
		}
		actx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
		resp, err := c.sender.Send(actx, req)
		cancel()
		var hint time.Duration
		if err != nil {
			if ctx.Err() != nil {
				return c.abandon(len(pending), fmt.Errorf("closed while sending: %w", err))
			}
			retry, h := classify(err)
			if !retry {
				c.reject(pending, connectCode(err), err.Error())
				return true
			}
			hint = h
		} else {
			pending = c.settleResults(pending, resp)
			if len(pending) == 0 {
				return true
			}
			err = errors.New("the service has not made them durable yet")
		}
		wait := time.Duration(float64(backoff) * (0.5 + rand.Float64()/2)) // jitter in [b/2, b)
		wait = max(wait, hint)
		backoff = min(2*backoff, c.cfg.MaxBackoff)
		c.info("retrying", "events", len(pending), "in", wait, "error", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return c.abandon(len(pending), errors.New("closed while waiting to retry (Close's deadline)"))
		}
	}
}

// abandon gives up on n events of the batch in flight at Close's deadline:
// dropped, or with StateDir saved there for the next New (and then not
// settled for good: it returns false).
func (c *Client) abandon(n int, reason error) bool {
	if c.journal == nil {
		c.drop(n, reason)
		return true
	}
	c.save(n, reason)
	return false
}

// save counts n events left in StateDir for the next New.
func (c *Client) save(n int, reason error) {
	if n == 0 {
		return
	}
	c.count(func(s *Stats) { s.Saved += int64(n) })
	c.warn("events kept in StateDir for the next New", "events", n, "dir", c.cfg.StateDir, "reason", reason)
}

// giveUp settles everything still queued when the sender stops: dropped,
// or with StateDir saved there.
func (c *Client) giveUp(reason error) {
	if c.journal == nil {
		c.dropQueued(reason)
		return
	}
	c.mu.Lock()
	n := len(c.queue)
	c.queue, c.qbytes = nil, 0
	last := c.seq
	c.mu.Unlock()
	c.save(n, reason)
	c.settle(last)
}

// connectCode is the ResultCode of a whole-request refusal, for Rejection.
func connectCode(err error) eventgrpcv1.ResultCode {
	switch connect.CodeOf(err) {
	case connect.CodeInvalidArgument:
		return eventgrpcv1.ResultCode_RESULT_CODE_INVALID
	case connect.CodeResourceExhausted:
		return eventgrpcv1.ResultCode_RESULT_CODE_TOO_LARGE
	}
	return eventgrpcv1.ResultCode_RESULT_CODE_UNSPECIFIED
}

// settleResults counts the per-event results and returns the events to
// send again: those the service says are not durable yet, and any it did
// not answer for.
func (c *Client) settleResults(pending []item, resp *eventgrpcv1.Response) []item {
	answered := make([]bool, len(pending))
	var again []item
	var rejected []Rejection
	delivered := 0
	for _, r := range resp.GetResults() {
		i := int(r.GetIndex())
		if i < 0 || i >= len(pending) || answered[i] {
			continue
		}
		answered[i] = true
		switch {
		case r.GetAccepted():
			delivered++
		case retryable(r):
			again = append(again, pending[i])
		default:
			rejected = append(rejected, Rejection{EventID: pending[i].ev.GetId(), Code: r.GetCode(), Reason: r.GetReason()})
		}
	}
	for i, ok := range answered {
		if !ok {
			again = append(again, pending[i])
		}
	}
	c.count(func(s *Stats) {
		s.Delivered += int64(delivered)
		s.Rejected += int64(len(rejected))
	})
	c.debug("answered", "delivered", delivered, "rejected", len(rejected), "retry", len(again))
	c.reportRejected(rejected)
	return again
}

// retryable reports whether a rejected event was valid but is not durable
// yet, from the result's retryable field; a service older than that field
// says so only in the reason, which then starts with the failure's code
// name.
func retryable(r *eventgrpcv1.EventResult) bool {
	if r.GetCode() != eventgrpcv1.ResultCode_RESULT_CODE_UNSPECIFIED {
		return r.GetRetryable()
	}
	reason := r.GetReason()
	return strings.HasPrefix(reason, "UNAVAILABLE:") || strings.HasPrefix(reason, "RESOURCE_EXHAUSTED:")
}

// classify says whether a whole-request failure is worth retrying, and the
// server's retry hint. resource_exhausted without a hint is a request too
// large: retrying it as is cannot help.
func classify(err error) (retry bool, hint time.Duration) {
	var ce *connect.Error
	var meta http.Header
	if errors.As(err, &ce) {
		meta = ce.Meta()
	}
	hint = retryHint(meta)
	if hint == 0 && ce != nil {
		hint = retryInfo(ce)
	}
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable, connect.CodeDeadlineExceeded, connect.CodeAborted, connect.CodeUnknown, connect.CodeCanceled:
		return true, hint
	case connect.CodeResourceExhausted:
		return hint > 0, hint
	}
	return false, 0
}

// retryInfo reads a google.rpc.RetryInfo detail: the form of the hint in
// a refusal the gRPC port sends before the call starts (no trailers then).
func retryInfo(ce *connect.Error) time.Duration {
	for _, d := range ce.Details() {
		if v, err := d.Value(); err == nil {
			if ri, ok := v.(*errdetails.RetryInfo); ok && ri.GetRetryDelay().AsDuration() > 0 {
				return ri.GetRetryDelay().AsDuration()
			}
		}
	}
	return 0
}

// retryHint reads retry-after-ms, else retry-after (seconds).
func retryHint(h http.Header) time.Duration {
	if h == nil {
		return 0
	}
	if n, err := strconv.ParseInt(h.Get("Retry-After-Ms"), 10, 64); err == nil && n > 0 {
		return time.Duration(n) * time.Millisecond
	}
	if n, err := strconv.ParseInt(h.Get("Retry-After"), 10, 64); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return 0
}

func (c *Client) reject(items []item, code eventgrpcv1.ResultCode, reason string) {
	rs := make([]Rejection, len(items))
	for i, it := range items {
		rs[i] = Rejection{EventID: it.ev.GetId(), Code: code, Reason: reason}
	}
	c.count(func(s *Stats) { s.Rejected += int64(len(items)) })
	c.reportRejected(rs)
}

func (c *Client) reportRejected(rs []Rejection) {
	if len(rs) == 0 {
		return
	}
	if c.log != nil {
		for _, r := range rs {
			c.warn("event rejected for good", "id", r.EventID, "code", r.Code.String(), "reason", r.Reason)
		}
	}
	if c.cfg.OnRejected != nil {
		c.cfg.OnRejected(rs)
	}
}

func (c *Client) drop(n int, reason error) {
	if n == 0 {
		return
	}
	c.count(func(s *Stats) { s.Dropped += int64(n) })
	c.warn("events dropped", "events", n, "reason", reason)
	if c.cfg.OnDropped != nil {
		c.cfg.OnDropped(n, reason)
	}
}

// dropQueued gives up on everything still queued.
func (c *Client) dropQueued(reason error) {
	c.mu.Lock()
	n := len(c.queue)
	c.queue, c.qbytes = nil, 0
	last := c.seq
	c.mu.Unlock()
	c.drop(n, reason)
	c.settle(last)
}

func (c *Client) settle(seq uint64) {
	c.mu.Lock()
	if seq > c.settled {
		c.settled = seq
		close(c.settledCh)
		c.settledCh = make(chan struct{})
	}
	c.mu.Unlock()
}

func (c *Client) count(f func(*Stats)) {
	c.mu.Lock()
	f(&c.stats)
	c.mu.Unlock()
}
