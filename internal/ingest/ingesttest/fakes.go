package ingesttest

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"testing"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/pipeline"
)

// AcceptAll is a pipeline.Dispatcher that answers every event accepted, as
// the pipeline does once the broker confirmed them.
type AcceptAll struct{}

func (AcceptAll) Dispatch(_ context.Context, _ pipeline.Source, req *eventgrpcv1.Events) (*eventgrpcv1.Response, error) {
	resp := &eventgrpcv1.Response{Accepted: int32(len(req.Events))}
	for i, ev := range req.Events {
		resp.Results = append(resp.Results, &eventgrpcv1.EventResult{Index: int32(i), EventId: ev.Id, Accepted: true})
	}
	return resp, nil
}

// HeapInUse is the heap in use after two garbage collections: what a test
// of memory bounds compares before and after.
func HeapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// Do sends req with the headers hdr set and returns the response, its body
// read and closed.
func Do(t testing.TB, req *http.Request, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}
