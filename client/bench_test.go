package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"connectrpc.com/connect"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/gen/eventgrpc/v1/eventgrpcv1connect"

	"github.com/event-grpc/event-grpc/client"
)

// acceptAll is a Connect EventService that accepts every event at once, so
// the benchmark measures the SDK (and the HTTP round trip), not a pipeline.
type acceptAll struct {
	eventgrpcv1connect.UnimplementedEventServiceHandler
}

func (acceptAll) Dispatch(_ context.Context, req *connect.Request[eventgrpcv1.Events]) (*connect.Response[eventgrpcv1.Response], error) {
	resp := &eventgrpcv1.Response{Status: eventgrpcv1.Status_STATUS_OK, Results: make([]*eventgrpcv1.EventResult, len(req.Msg.Events))}
	for i, ev := range req.Msg.Events {
		resp.Results[i] = &eventgrpcv1.EventResult{Index: int32(i), EventId: ev.Id, Accepted: true}
	}
	resp.Accepted = int32(len(req.Msg.Events))
	return connect.NewResponse(resp), nil
}

func benchEvent() *eventgrpcv1.Event {
	return &eventgrpcv1.Event{EventOf: &eventgrpcv1.Event_PageOpenedEvent{PageOpenedEvent: &eventgrpcv1.PageOpenedEvent{PageName: "home"}}}
}

// BenchmarkTrack is Track alone: mint id and timestamp, size, queue.
func BenchmarkTrack(b *testing.B) {
	c, err := client.New(client.Config{URL: "http://127.0.0.1:9", MaxQueueEvents: b.N + 1, MaxQueueBytes: 1 << 40,
		MaxBatchEvents: b.N + 1, FlushInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	evs := make([]*eventgrpcv1.Event, b.N)
	for i := range evs {
		evs[i] = benchEvent()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		c.Track(evs[i])
	}
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	c.Close(ctx)
}

// BenchmarkTrackAndDeliver is the whole client path per event: Track,
// batching (500), encoding, one Connect request per batch to an in-process
// server that accepts everything (its decode is included), results; A/B in
// one run: gzip (the default), no compression, and gzip with a StateDir
// journal (written per event, fsynced per batch sent).
func BenchmarkTrackAndDeliver(b *testing.B) {
	mux := http.NewServeMux()
	mux.Handle(eventgrpcv1connect.NewEventServiceHandler(acceptAll{}))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, bc := range []struct {
		name        string
		compression string
		stateDir    bool
	}{{"gzip", "", false}, {"none", client.CompressionNone, false}, {"gzip+StateDir", "", true}} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := client.Config{URL: srv.URL, FlushInterval: 10 * time.Millisecond, Compression: bc.compression}
			if bc.stateDir {
				cfg.StateDir = b.TempDir()
			}
			c, err := client.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				for c.Track(benchEvent()) == client.ErrQueueFull {
					time.Sleep(time.Millisecond)
				}
			}
			if err := c.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if s := c.Stats(); s.Delivered != int64(b.N) {
				b.Fatalf("stats %+v", s)
			}
		})
	}
}

// BenchmarkTrackEvent is a generic call alone: properties to Struct,
// identity, mint id and timestamp, size, queue.
func BenchmarkTrackEvent(b *testing.B) {
	c, err := client.New(client.Config{URL: "http://127.0.0.1:9", MaxQueueEvents: b.N + 1, MaxQueueBytes: 1 << 40,
		MaxBatchEvents: b.N + 1, FlushInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	props := client.Properties{"revenue": 49.5, "currency": "EUR", "paid": true,
		"items": []any{map[string]any{"sku": "sku-1", "quantity": 2}}}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c.TrackEvent("Order Completed", props)
	}
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	c.Close(ctx)
}
