// Package ingesttest holds what tests and probes of the ingest ports
// share: an HTTP/2 client that holds streams half-sent, as an attacker
// would.
package ingesttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// HalfSend describes streams that send most of a body and never finish.
type HalfSend struct {
	Addr    string
	Streams int
	// Header is the request's header block: pseudo-headers first
	// (":method", ":scheme", ":path", ":authority"), then the rest.
	Header []hpack.HeaderField
	// Body is what each stream sends of its body; END_STREAM is never
	// sent.
	Body []byte
}

// Result tells what the server did with the streams.
type Result struct {
	Opened  int
	Refused int            // closed by the server (RST_STREAM or an answer) before the client gave up
	Answers map[string]int // the answers seen: ":status" / "grpc-status" values, "rst:<code>"
	Sent    int64          // body bytes sent, all streams
}

// Run opens one connection and its streams, sends each body as far as
// flow control lets it, and holds the connection until ctx ends; then it
// closes it and reports.
func (h HalfSend) Run(ctx context.Context) (Result, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", h.Addr)
	if err != nil {
		return Result{}, err
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		return Result{}, err
	}
	fr := http2.NewFramer(conn, conn)
	c := &h2conn{fr: fr, conn: 65535, win: map[uint32]int64{}, closed: map[uint32]bool{},
		res: Result{Answers: map[string]int{}}, initial: 65535}
	c.cond = sync.NewCond(&c.mu)
	if err := c.write(func() error { return fr.WriteSettings() }); err != nil {
		return Result{}, err
	}
	readErr := make(chan error, 1)
	go func() { readErr <- c.read() }()
	go func() {
		<-ctx.Done()
		conn.SetDeadline(time.Now())
		c.mu.Lock()
		c.done = true
		c.cond.Broadcast()
		c.mu.Unlock()
	}()

	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for i := range h.Streams {
		id := uint32(2*i + 1)
		hb.Reset()
		for _, f := range h.Header {
			enc.WriteField(f)
		}
		c.mu.Lock()
		c.win[id] = c.initial
		c.res.Opened++
		c.mu.Unlock()
		if err := c.write(func() error {
			return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndHeaders: true})
		}); err != nil {
			return c.result(), ctxOr(ctx, err)
		}
	}
	// Send the bodies round-robin, as far as the windows let them go.
	sent := make([]int, h.Streams)
	for {
		progress, pending := false, false
		for i := range h.Streams {
			id := uint32(2*i + 1)
			if sent[i] >= len(h.Body) {
				continue
			}
			c.mu.Lock()
			if c.closed[id] {
				c.mu.Unlock()
				continue
			}
			pending = true
			n := min(int64(len(h.Body)-sent[i]), 16<<10, c.win[id], c.conn)
			if n <= 0 || c.done {
				c.mu.Unlock()
				continue
			}
			c.win[id] -= n
			c.conn -= n
			c.res.Sent += n
			c.mu.Unlock()
			chunk := h.Body[sent[i] : sent[i]+int(n)]
			if err := c.write(func() error { return fr.WriteData(id, false, chunk) }); err != nil {
				return c.result(), ctxOr(ctx, err)
			}
			sent[i] += int(n)
			progress = true
		}
		if !pending {
			break
		}
		if !progress {
			c.mu.Lock()
			if c.done || c.err != nil {
				c.mu.Unlock()
				break
			}
			c.cond.Wait() // a window update, a closed stream or the end
			c.mu.Unlock()
		}
	}
	select {
	case <-ctx.Done():
	case err := <-readErr:
		if ctx.Err() == nil && err != nil {
			return c.result(), fmt.Errorf("the server closed the connection: %w", err)
		}
	}
	return c.result(), nil
}

func ctxOr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

type h2conn struct {
	wmu     sync.Mutex
	fr      *http2.Framer
	mu      sync.Mutex
	cond    *sync.Cond
	conn    int64
	initial int64
	win     map[uint32]int64
	closed  map[uint32]bool
	res     Result
	done    bool
	err     error
}

func (c *h2conn) write(f func() error) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return f()
}

func (c *h2conn) result() Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.res
	r.Answers = make(map[string]int, len(c.res.Answers))
	for k, v := range c.res.Answers {
		r.Answers[k] = v
	}
	return r
}

func (c *h2conn) closeStream(id uint32, answer string) {
	if !c.closed[id] {
		c.closed[id] = true
		c.res.Refused++
	}
	if answer != "" {
		c.res.Answers[answer]++
	}
}

// read handles the server's frames until the connection ends.
func (c *h2conn) read() error {
	dec := hpack.NewDecoder(4096, nil)
	defer func() {
		c.mu.Lock()
		c.done = true
		c.cond.Broadcast()
		c.mu.Unlock()
	}()
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return err
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if f.IsAck() {
				continue
			}
			if v, ok := f.Value(http2.SettingInitialWindowSize); ok {
				c.mu.Lock()
				delta := int64(v) - c.initial
				c.initial = int64(v)
				for id := range c.win {
					c.win[id] += delta
				}
				c.cond.Broadcast()
				c.mu.Unlock()
			}
			if err := c.write(c.fr.WriteSettingsAck); err != nil {
				return err
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				if err := c.write(func() error { return c.fr.WritePing(true, f.Data) }); err != nil {
					return err
				}
			}
		case *http2.WindowUpdateFrame:
			c.mu.Lock()
			if f.StreamID == 0 {
				c.conn += int64(f.Increment)
			} else {
				c.win[f.StreamID] += int64(f.Increment)
			}
			c.cond.Broadcast()
			c.mu.Unlock()
		case *http2.RSTStreamFrame:
			c.mu.Lock()
			c.closeStream(f.StreamID, "rst:"+f.ErrCode.String())
			c.cond.Broadcast()
			c.mu.Unlock()
		case *http2.HeadersFrame:
			fields, err := dec.DecodeFull(f.HeaderBlockFragment())
			if err != nil {
				return err
			}
			answer := ""
			for _, hf := range fields {
				if hf.Name == "grpc-status" {
					answer = "grpc-status:" + hf.Value
				} else if hf.Name == ":status" && answer == "" {
					answer = ":status:" + hf.Value
				}
			}
			c.mu.Lock()
			c.closeStream(f.StreamID, answer)
			c.cond.Broadcast()
			c.mu.Unlock()
		case *http2.DataFrame:
			if n := len(f.Data()); n > 0 {
				// Return the flow control credit so answers keep coming.
				c.write(func() error { return c.fr.WriteWindowUpdate(0, uint32(n)) })
			}
		case *http2.GoAwayFrame:
			return errors.New("GOAWAY " + f.ErrCode.String())
		}
	}
}

// GRPCHeader is the header block of a gRPC call of method with the given
// metadata (lowercase keys).
func GRPCHeader(authority, method string, md ...string) []hpack.HeaderField {
	h := []hpack.HeaderField{
		{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"},
		{Name: ":path", Value: method}, {Name: ":authority", Value: authority},
		{Name: "content-type", Value: "application/grpc"}, {Name: "te", Value: "trailers"},
	}
	for i := 0; i+1 < len(md); i += 2 {
		h = append(h, hpack.HeaderField{Name: md[i], Value: md[i+1]})
	}
	return h
}

// HTTPHeader is the header block of a POST of a body of length bytes
// (Content-Length) to path, with extra headers.
func HTTPHeader(authority, path string, length int, extra ...string) []hpack.HeaderField {
	h := []hpack.HeaderField{
		{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"},
		{Name: ":path", Value: path}, {Name: ":authority", Value: authority},
		{Name: "content-type", Value: "application/json"}, {Name: "content-length", Value: strconv.Itoa(length)},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		h = append(h, hpack.HeaderField{Name: extra[i], Value: extra[i+1]})
	}
	return h
}

// GRPCFrame is a gRPC message prefix declaring a message of n bytes,
// followed by body (the part of the message that is sent).
func GRPCFrame(n int, body []byte) []byte {
	b := make([]byte, 5, 5+len(body))
	b[1], b[2], b[3], b[4] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	return append(b, body...)
}
