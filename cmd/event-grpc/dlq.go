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
	port := os.Getenv("GIN_PORT")
	if port == "" {
		port = "8019"
	}
	addr := fs.String("http", "127.0.0.1:"+port, "the server's HTTP address")
	limit := fs.Int("limit", -1, "at most this many messages (list: sample size, default 10; replay: default all)")
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	u := "http://" + *addr + "/admin/dlq/" + url.PathEscape(queue)
	method := http.MethodGet
	if verb == "replay" {
		u += "/replay"
		method = http.MethodPost
	}
	if *limit >= 0 {
		u += "?limit=" + strconv.Itoa(*limit)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	resp, body, err := callServer(req)
	if err != nil {
		return err
	}
	if verb == "replay" {
		var r struct {
			Replayed int    `json:"replayed"`
			Error    string `json:"error"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return fmt.Errorf("%s: %s", resp.Status, body)
		}
		fmt.Fprintf(stdout, "replayed=%d\n", r.Replayed)
		if r.Error != "" {
			return fmt.Errorf("%s", r.Error)
		}
		return nil
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
