package pipeline

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/dedupe"
)

// discard is a Publisher that confirms at once, so BenchmarkDispatch
// measures the pipeline's own work per event (the brokers have their own
// benchmarks).
type discard struct{}

func (discard) Publish(context.Context, string, []broker.Message) error { return nil }

// BenchmarkDispatch: 50-event requests as the bench sends them (client ids
// and timestamps, a mix of typed events and custom events with params)
// through validation, the dedupe window, encoding and cutting. Reported per
// event.
func BenchmarkDispatch(b *testing.B) {
	reg := prometheus.NewRegistry()
	dd, err := dedupe.Open(dedupe.Config{Window: time.Minute, PendingTTL: 10 * time.Second, LocalMaxItems: 1 << 20},
		slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	if err != nil {
		b.Fatal(err)
	}
	defer dd.Close()
	at := time.Now()
	p, err := New(Config{Workers: 2, Queue: 4, MaxMessageEvents: 100, MaxEvents: 100, MaxPast: 24 * time.Hour,
		MaxEventBytes: 64 << 10, MaxStringLength: 16 << 10, Exchange: "grpc_event.tx", Dedupe: dd, Registerer: reg,
		Now: func() time.Time { return at }}, discard{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	ts := strconv.FormatInt(at.UnixMilli(), 10)
	const n = 50
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		req := &eventgrpcv1.Events{Header: &eventgrpcv1.Header{ClientId: "bench", SessionId: "s1", UserId: "u1", DeviceId: "d1"}}
		for i := range n {
			id := uuid.Must(uuid.NewV7()).String()
			var ev *eventgrpcv1.Event
			switch i % 3 {
			case 0:
				ev = launch(id, ts)
			case 1:
				ev = click(id, ts)
			default:
				ev = &eventgrpcv1.Event{Id: id, Timestamp: ts, EventOf: &eventgrpcv1.Event_CustomEvent{CustomEvent: &eventgrpcv1.CustomEvent{
					Name: "video_quality", Params: map[string]string{"quality": "hd", "bitrate": "4200", "codec": "h264", "screen": "player"}}}}
			}
			req.Events = append(req.Events, ev)
		}
		b.StartTimer()
		resp, err := p.Dispatch(context.Background(), SourceGRPC, req)
		if err != nil || resp.Accepted != n {
			b.Fatalf("accepted %d of %d: %v", resp.GetAccepted(), n, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
}
