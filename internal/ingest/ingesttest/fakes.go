package ingesttest

import (
	"context"
	"runtime"

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
