package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/event-grpc/event-grpc/internal/tail"
)

// tailCmd prints events as the running server accepts them, like
// `vector tap`: one line each (time, source, type, id, header fields that
// are set, payload), or with --json the tail's JSON object per line. It
// runs until ctx ends. Lines the server could not hand over in time (this
// reader was too slow) are reported as a count on stderr; events are never
// affected.
func tailCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := httpFlag(fs)
	typ := fs.String("type", "", "only events of this type (e.g. LaunchEvent, or a CustomEvent's name)")
	source := fs.String("source", "", "only events from this source (grpc, http)")
	sample := fs.Float64("sample", 0, "show this fraction 0..1 of the events (0: all)")
	asJSON := fs.Bool("json", false, "print each event as a JSON object")
	var where multiFlag
	fs.Var(&where, "where", "header field=value that must match, e.g. user_id=u-1 (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	q := url.Values{}
	if *typ != "" {
		q.Set("type", *typ)
	}
	if *source != "" {
		q.Set("source", *source)
	}
	if *sample > 0 {
		q.Set("sample", fmt.Sprint(*sample))
	}
	for _, w := range where {
		q.Add("where", w)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+*addr+"/v1/tail?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	if tok := os.Getenv("ADMIN_TOKEN"); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("is the server running? %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		var e struct{ Error string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s: %s", resp.Status, e.Error)
		}
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
	}
	sc := bufio.NewScanner(resp.Body)
	// One message is at most the server's per-reader bound (what one
	// Next hands over); twice that leaves room to spare.
	sc.Buffer(make([]byte, 64<<10), 2*tail.DefaultMaxBytes)
	var event string
	out := bufio.NewWriter(stdout)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data := strings.TrimPrefix(line, "data: ")
			switch event {
			case "dropped":
				fmt.Fprintf(stderr, "tail: %s events not shown so far (this reader was too slow)\n", data)
			case "events":
				if err := printTail(out, []byte(data), *asJSON); err != nil {
					return err
				}
				if err := out.Flush(); err != nil {
					return err
				}
			}
		case line == "":
			event = ""
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading the tail: %w", err)
	}
	return fmt.Errorf("the server closed the tail")
}

type tailEvent struct {
	Time   time.Time       `json:"time"`
	Source string          `json:"source"`
	Type   string          `json:"type"`
	ID     string          `json:"id"`
	Header json.RawMessage `json:"header"`
	Event  json.RawMessage `json:"event"`
}

func printTail(w io.Writer, data []byte, asJSON bool) error {
	var evs []tailEvent
	if err := json.Unmarshal(data, &evs); err != nil {
		return fmt.Errorf("bad tail message: %w", err)
	}
	for _, e := range evs {
		if asJSON {
			b, _ := json.Marshal(e)
			fmt.Fprintf(w, "%s\n", b)
			continue
		}
		var hdr map[string]any
		_ = json.Unmarshal(e.Header, &hdr)
		var hs []string
		for _, k := range []string{"userId", "deviceId", "clientId", "sessionId"} {
			if v, ok := hdr[k]; ok && v != "" {
				hs = append(hs, fmt.Sprintf("%s=%v", k, v))
			}
		}
		fmt.Fprintf(w, "%s %-4s %-20s %s %s %s\n", e.Time.Local().Format("15:04:05.000"), e.Source, e.Type, e.ID, strings.Join(hs, " "), e.Event)
	}
	return nil
}

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }
