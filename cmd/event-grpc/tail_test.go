package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/app"
	"github.com/event-grpc/event-grpc/internal/app/apptest"
	"github.com/event-grpc/event-grpc/internal/tail"
)

// syncBuffer is a bytes.Buffer safe for the command writing and the test
// reading at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func startApp(t *testing.T) (*app.App, eventgrpcv1.EventServiceClient) {
	t.Helper()
	a := apptest.Start(t, nil)
	cc, err := grpc.NewClient(a.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return a, eventgrpcv1.NewEventServiceClient(cc)
}

func launchAndClick(id string) *eventgrpcv1.Events {
	return &eventgrpcv1.Events{Header: &eventgrpcv1.Header{UserId: "u-1"}, Events: []*eventgrpcv1.Event{
		{Id: id, EventOf: &eventgrpcv1.Event_LaunchEvent{LaunchEvent: &eventgrpcv1.LaunchEvent{}}},
		{Id: id + "-click", EventOf: &eventgrpcv1.Event_ClickEvent{ClickEvent: &eventgrpcv1.ClickEvent{}}},
	}}
}

// TestTailPrintsAcceptedEvents: `event-grpc tail --type LaunchEvent`
// prints a LaunchEvent dispatched after it started, and not the
// ClickEvent beside it.
func TestTailPrintsAcceptedEvents(t *testing.T) {
	a, client := startApp(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- tailCmd(ctx, []string{"--http", a.HTTPAddr().String(), "--type", "LaunchEvent", "--where", "user_id=u-1"}, &out, &errOut)
	}()
	for deadline := time.Now().Add(10 * time.Second); a.Tail.Subscribers() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("tail never attached: %s", errOut.String())
		}
	}
	if _, err := client.Dispatch(context.Background(), launchAndClick("ev-tail-1")); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "ev-tail-1"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("tail printed %q, want the LaunchEvent ev-tail-1", out.String())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("tail: %v", err)
	}
	got := out.String()
	if !strings.Contains(got, "LaunchEvent") || strings.Contains(got, "ev-tail-1-click") {
		t.Fatalf("tail output:\n%s", got)
	}
}

// TestStuckTailDoesNotBlockDispatch: a tail subscriber that never reads
// does not hold up ingest over real gRPC: every dispatch completes, all
// events are accepted, and the subscriber's missed events are counted.
func TestStuckTailDoesNotBlockDispatch(t *testing.T) {
	a, client := startApp(t)
	sub, err := a.Tail.Subscribe(tail.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	const n = 200
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range n {
		resp, err := client.Dispatch(ctx, launchAndClick("stuck-"+string(rune('a'+i%26))+time.Now().Format("150405.000000")))
		if err != nil {
			t.Fatalf("dispatch %d: %v", i, err)
		}
		if resp.GetAccepted() != 2 {
			t.Fatalf("dispatch %d accepted %d of 2", i, resp.GetAccepted())
		}
	}
	// The subscriber holds copies of the events within its byte bound;
	// what did not fit was dropped for it, and only for it: each event
	// either waits or is counted.
	if b := sub.Buffered(); b > a.Tail.MaxBytes() {
		t.Fatalf("a reader that never reads holds %d bytes, over the bound %d", b, a.Tail.MaxBytes())
	}
	wait, stop := context.WithTimeout(context.Background(), time.Second)
	defer stop()
	held, err := sub.Next(wait)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := uint64(len(held))+sub.Dropped(), uint64(2*n); got != want {
		t.Fatalf("a reader that never reads: %d events held + %d missed = %d, want %d", len(held), sub.Dropped(), got, want)
	}
}
