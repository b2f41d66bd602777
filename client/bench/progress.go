package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"
)

// progress counts a run's dispatches for the live line; the workers add
// to it with atomics, one call per dispatch.
type progress struct {
	sent, acked, errs atomic.Int64
}

func (p *progress) add(sent, acked int64, failed bool) {
	if p == nil {
		return
	}
	p.sent.Add(sent)
	p.acked.Add(acked)
	if failed {
		p.errs.Add(1)
	}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// show rewrites one line on w every second until ctx ends, then clears it.
func (p *progress) show(ctx context.Context, w io.Writer, start time.Time) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var last int64
	for {
		select {
		case <-ctx.Done():
			fmt.Fprint(w, "\r\033[K")
			return
		case <-t.C:
			sent := p.sent.Load()
			fmt.Fprintf(w, "\r\033[K%5.0fs  sent=%d acked=%d errors=%d  now %d events/s", time.Since(start).Seconds(), sent, p.acked.Load(), p.errs.Load(), sent-last)
			last = sent
		}
	}
}
