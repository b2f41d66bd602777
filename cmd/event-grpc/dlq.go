package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/event-grpc/event-grpc/internal/ingest/httpsrv"
)

// dlq asks the running server: the embedded broker lives in its process, so
// the server's admin API is the one way that works for every broker.
func dlq(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) < 2 || (args[0] != "list" && args[0] != "replay") {
		return fmt.Errorf("usage: event-grpc dlq list QUEUE [--limit N] | dlq replay QUEUE [--limit N]")
	}
	verb, queue := args[0], args[1]
	fs := flag.NewFlagSet("dlq", flag.ContinueOnError)
	addr := httpFlag(fs)
	limit := fs.Int("limit", -1, "at most this many messages (list: sample size, default 10; replay: default all)")
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	base := "http://" + *addr + "/admin/dlq/" + url.PathEscape(queue)
	if verb == "replay" {
		return replay(ctx, base, *limit, stdout)
	}
	u := base
	if *limit >= 0 {
		u += "?limit=" + strconv.Itoa(*limit)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, body, err := callServer(req)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, body)
	}
	var l httpsrv.DLQList
	if err := json.Unmarshal(body, &l); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "queue=%s error_queue=%s count=%d\n", l.Queue, l.ErrorQueue, l.Count)
	for i, d := range l.Sample {
		fmt.Fprintf(stdout, "--- #%d routing_key=%s exchange=%s\n", i, d.RoutingKey, d.Exchange)
		keys := make([]string, 0, len(d.Headers))
		for k := range d.Headers {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(stdout, "  %s: %s\n", k, d.Headers[k])
		}
		b := d.Body
		if len(b) > 512 {
			b = b[:512] + "…"
		}
		fmt.Fprintf(stdout, "  body: %q\n", b)
	}
	return nil
}

// replayChunk is how many dead letters one replay call moves, so the
// command can show progress between calls.
const replayChunk = 100

// replay moves up to limit (all when negative: the count the queue holds
// when it starts, so poison that fails again and comes back is not
// replayed round and round) dead letters in chunks, printing progress and
// then "replayed=N".
func replay(ctx context.Context, base string, limit int, stdout io.Writer) error {
	total := limit
	if total < 0 {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"?limit=0", nil)
		if err != nil {
			return err
		}
		resp, body, err := callServer(req)
		if err != nil {
			return err
		}
		var l httpsrv.DLQList
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &l) != nil {
			return fmt.Errorf("%s: %s", resp.Status, body)
		}
		total = l.Count
	}
	live := isTTY(stdout)
	done := 0
	var failure error
	for done < total {
		n := min(replayChunk, total-done)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/replay?limit="+strconv.Itoa(n), nil)
		if err != nil {
			return err
		}
		resp, body, err := callServer(req)
		if err != nil {
			failure = err
			break
		}
		var r struct {
			Replayed int    `json:"replayed"`
			Error    string `json:"error"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			failure = fmt.Errorf("%s: %s", resp.Status, body)
			break
		}
		done += r.Replayed
		if live {
			fmt.Fprintf(stdout, "\r\033[Kreplaying: %d/%d (%.0f%%)", done, total, 100*float64(done)/float64(max(1, total)))
		} else if total > replayChunk {
			fmt.Fprintf(stdout, "replaying: %d/%d\n", done, total)
		}
		if r.Error != "" {
			failure = fmt.Errorf("%s", r.Error)
			break
		}
		if r.Replayed == 0 { // the queue emptied under us
			break
		}
	}
	if live {
		fmt.Fprint(stdout, "\r\033[K")
	}
	fmt.Fprintf(stdout, "replayed=%d\n", done)
	return failure
}

// isTTY reports whether w is a terminal.
func isTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
