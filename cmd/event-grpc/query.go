package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/event-grpc/event-grpc/internal/ingest/httpsrv"
)

func query(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	addr := httpFlag(fs)
	format := fs.String("format", "", "table, tsv or json (default: table on a terminal, else tsv)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *format == "" {
		*format = "tsv"
		if isTTY(stdout) {
			*format = "table"
		}
	}
	switch *format {
	case "table", "tsv", "json":
	default:
		return fmt.Errorf("--format: %q is not table, tsv or json", *format)
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("want one SQL statement, e.g. event-grpc query 'SELECT count(*) FROM event'")
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+*addr+"/v1/query", strings.NewReader(fs.Arg(0)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain")
	resp, body, err := callServer(req)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s", e.Error)
		}
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
	}
	var res httpsrv.QueryResult
	if err := json.Unmarshal(body, &res); err != nil {
		return fmt.Errorf("bad answer: %w", err)
	}
	var out bytes.Buffer
	if err := writeRows(&out, *format, res); err != nil {
		return err
	}
	_, err = stdout.Write(out.Bytes())
	return err
}

// writeRows prints a query's result with a header row of the column names:
// aligned (table), tab-separated (tsv) or one JSON object per row keyed by
// column (json). The server sends each value TSV-escaped (a tab, newline
// and backslash inside it as \t, \n and \\), as the TSV and table forms
// print it; the JSON form has the value itself.
func writeRows(w *bytes.Buffer, format string, res httpsrv.QueryResult) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		for _, r := range res.Rows {
			obj := make(map[string]string, len(r))
			for i, v := range r {
				if i < len(res.Columns) {
					obj[res.Columns[i]] = tsvUnescaper.Replace(v)
				}
			}
			if err := enc.Encode(obj); err != nil {
				return err
			}
		}
		return nil
	case "table":
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(tsvEscape(res.Columns), "\t"))
		for _, r := range res.Rows {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "(%d rows)\n", len(res.Rows))
		return nil
	default:
		w.WriteString(strings.Join(tsvEscape(res.Columns), "\t"))
		w.WriteByte('\n')
		for _, r := range res.Rows {
			w.WriteString(strings.Join(r, "\t"))
			w.WriteByte('\n')
		}
		return nil
	}
}

var (
	tsvEscaper   = strings.NewReplacer("\\", "\\\\", "\t", "\\t", "\n", "\\n")
	tsvUnescaper = strings.NewReplacer("\\\\", "\\", "\\t", "\t", "\\n", "\n")
)

func tsvEscape(vs []string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = tsvEscaper.Replace(v)
	}
	return out
}

// callServer sends req to the running server and reads the whole answer.
func callServer(req *http.Request) (*http.Response, []byte, error) {
	// The operator endpoints want a marker that a web page cannot send,
	// and the admin token when the server is not on this machine.
	req.Header.Set(httpsrv.HeaderRequestedBy, "event-grpc")
	if tok := os.Getenv("ADMIN_TOKEN"); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("is the server running? %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the server's answer: %w", err)
	}
	return resp, body, nil
}
