package app_test

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
)

func rabbitctl(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("rabbitmqctl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("rabbitmqctl %v: %v\n%s", args, err, out)
	}
}

// TestRabbitMQOutageUnderLoad: 50,000 events dispatched over gRPC while
// RabbitMQ is stopped and started once. Every event that got OK is stored
// exactly once; every one that did not got UNAVAILABLE or
// RESOURCE_EXHAUSTED; the server needs no restart.
func TestRabbitMQOutageUnderLoad(t *testing.T) {
	a := start(t, map[string]string{"BROKER": "rabbitmq", "RABBIT_VHOST": rabbitVHost(t), "QUERY_MAX_ROWS": "200000"})
	client := eventgrpcv1.NewEventServiceClient(dial(t, a))
	run := fmt.Sprintf("out%d", time.Now().UnixNano())

	const total, batch, workers = 50000, 50, 8
	var (
		next      atomic.Int64
		mu        sync.Mutex
		okIDs     = map[string]bool{}
		refused   = map[codes.Code]int{}
		wentDown  atomic.Bool
		wg        sync.WaitGroup
		outageErr = make(chan error, 1)
	)
	heartbeat := "http://" + a.HTTPAddr().String() + "/heartbeat"
	pace := time.NewTicker(20 * time.Millisecond) // ~50 dispatches/s: ~20 s of load
	defer pace.Stop()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1) - 1
				if n*batch >= total {
					return
				}
				req := &eventgrpcv1.Events{Header: &eventgrpcv1.Header{UserId: run}}
				for i := range batch {
					req.Events = append(req.Events, &eventgrpcv1.Event{
						Id:      fmt.Sprintf("%s-%d-%d", run, n, i),
						EventOf: &eventgrpcv1.Event_PageOpenedEvent{PageOpenedEvent: &eventgrpcv1.PageOpenedEvent{}},
					})
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				resp, err := client.Dispatch(ctx, req)
				cancel()
				mu.Lock()
				if err != nil {
					refused[status.Code(err)] += batch
				} else {
					for i, r := range resp.Results {
						if r.Accepted {
							okIDs[r.EventId] = true
						} else {
							refused[codes.Unknown]++
							t.Errorf("event %d rejected inside an OK response: %s", i, r.Reason)
						}
					}
				}
				mu.Unlock()
				<-pace.C // spread the load over the outage
			}
		}()
	}
	go func() {
		time.Sleep(3 * time.Second)
		if out, err := exec.Command("rabbitmqctl", "stop_app").CombinedOutput(); err != nil {
			outageErr <- fmt.Errorf("stop_app: %v %s", err, out)
			return
		}
		// Readiness must say so while the broker is gone.
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if resp, err := http.Get(heartbeat); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusServiceUnavailable {
					wentDown.Store(true)
					break
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(5 * time.Second)
		if out, err := exec.Command("rabbitmqctl", "start_app").CombinedOutput(); err != nil {
			outageErr <- fmt.Errorf("start_app: %v %s", err, out)
			return
		}
		outageErr <- nil
	}()
	wg.Wait()
	if err := <-outageErr; err != nil {
		rabbitctl(t, "start_app")
		t.Fatal(err)
	}
	if !wentDown.Load() {
		t.Error("/heartbeat never reported 503 while RabbitMQ was stopped")
	}
	for code := range refused {
		if code != codes.Unavailable && code != codes.ResourceExhausted {
			t.Errorf("%d events refused with %v; only UNAVAILABLE or RESOURCE_EXHAUSTED are allowed", refused[code], code)
		}
	}
	t.Logf("ok=%d refused=%v", len(okIDs), refused)
	if len(okIDs) == 0 || len(refused) == 0 {
		t.Fatalf("the load did not span the outage: ok=%d refused=%v", len(okIDs), refused)
	}

	// The server recovers by itself: more events go through after the outage.
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := client.Dispatch(context.Background(), &eventgrpcv1.Events{Header: &eventgrpcv1.Header{UserId: run},
			Events: []*eventgrpcv1.Event{{Id: run + "-after", EventOf: &eventgrpcv1.Event_TestEvent{TestEvent: &eventgrpcv1.TestEvent{}}}}})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not recover after the outage: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	okIDs[run+"-after"] = true

	// Every OK event is stored exactly once.
	deadline = time.Now().Add(90 * time.Second)
	for {
		rows := query(t, a, fmt.Sprintf("SELECT event_id, count(*) FROM event WHERE user_id = '%s' GROUP BY event_id", run))
		stored := map[string]string{}
		for _, r := range rows {
			stored[r[0]] = r[1]
		}
		missing, dup := 0, 0
		for id := range okIDs {
			switch stored[id] {
			case "":
				missing++
			case "1":
			default:
				dup++
			}
		}
		if dup > 0 {
			t.Fatalf("%d acknowledged events stored more than once", dup)
		}
		if missing == 0 {
			t.Logf("stored %d rows (%d acknowledged)", len(stored), len(okIDs))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged events missing from the event table", missing, len(okIDs))
		}
		time.Sleep(500 * time.Millisecond)
	}
}
