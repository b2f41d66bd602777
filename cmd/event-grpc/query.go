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
	"time"

	"github.com/event-grpc/event-grpc/internal/ingest/httpsrv"
)

func query(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	addr := fs.String("http", operatorAddr(), "the server's HTTP address (its operator listener ADMIN_ADDR when set)")
	if err := fs.Parse(args); err != nil {
		return err
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
	for _, r := range res.Rows {
		out.WriteString(strings.Join(r, "\t"))
		out.WriteByte('\n')
	}
	_, err = stdout.Write(out.Bytes())
	return err
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
