package bench

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"sync"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
)

// outBuffer is the write buffer of --out: the only memory the id file
// takes, however long the run.
const outBuffer = 64 << 10

// idWriter appends accepted event ids to a file, one per line, through a
// fixed buffer. Safe for concurrent use. After a write error every later
// write returns that error.
type idWriter struct {
	path string
	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	n    int64
	err  error
}

func openIDWriter(path string) (*idWriter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("bench: --out: %w", err)
	}
	return &idWriter{path: path, f: f, w: bufio.NewWriterSize(f, outBuffer)}, nil
}

// writeAccepted appends the ids of the accepted events of one dispatch:
// those EventResult names accepted, with the id the service returned (the
// one it minted when the request had none). A response without results
// that accepted the whole batch is taken to mean every request id.
func (o *idWriter) writeAccepted(req *eventgrpcv1.Events, resp *eventgrpcv1.Response) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return o.err
	}
	write := func(id string) {
		if id == "" || o.err != nil {
			return
		}
		if _, err := o.w.WriteString(id); err != nil {
			o.err = err
			return
		}
		if err := o.w.WriteByte('\n'); err != nil {
			o.err = err
			return
		}
		o.n++
	}
	results := resp.GetResults()
	if len(results) == 0 && int(resp.GetAccepted()) == len(req.GetEvents()) {
		for _, ev := range req.GetEvents() {
			write(ev.GetId())
		}
	}
	for _, r := range results {
		if !r.GetAccepted() {
			continue
		}
		id := r.GetEventId()
		if i := int(r.GetIndex()); id == "" && i >= 0 && i < len(req.GetEvents()) {
			id = req.GetEvents()[i].GetId()
		}
		write(id)
	}
	if o.err != nil {
		o.err = fmt.Errorf("bench: --out %s: %w", o.path, o.err)
	}
	return o.err
}

func (o *idWriter) written() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n
}

// close flushes and closes the file.
func (o *idWriter) close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	var errs []error
	if o.err == nil {
		if err := o.w.Flush(); err != nil {
			errs = append(errs, fmt.Errorf("bench: --out %s: flush: %w", o.path, err))
		}
	}
	if err := o.f.Close(); err != nil {
		errs = append(errs, fmt.Errorf("bench: --out %s: close: %w", o.path, err))
	}
	return errors.Join(errs...)
}
