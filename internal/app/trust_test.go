package app_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/app"
	"github.com/event-grpc/event-grpc/internal/auth"
)

const testKey = "k3y-for-the-android-app-0123456789"

func marker(id string) *eventgrpcv1.Events {
	return &eventgrpcv1.Events{Header: &eventgrpcv1.Header{UserId: "trust"}, Events: []*eventgrpcv1.Event{{Id: id, EventOf: &eventgrpcv1.Event_TestEvent{TestEvent: &eventgrpcv1.TestEvent{}}}}}
}

// TestAPIKeyAuth: without credentials or with a wrong key a request is
// refused and nothing of it is stored; a valid one is stored.
func TestAPIKeyAuth(t *testing.T) {
	a := start(t, map[string]string{"AUTH_MODE": "apikey", "AUTH_API_KEYS": "android:" + testKey})
	client := eventgrpcv1.NewEventServiceClient(dial(t, a))
	for _, c := range []struct {
		name string
		md   metadata.MD
		ok   bool
	}{
		{"none", metadata.MD{}, false},
		{"unknown client", metadata.Pairs("x-client-id", "ios", "authorization", "Bearer "+testKey), false},
		{"wrong key", metadata.Pairs("x-client-id", "android", "authorization", "Bearer "+strings.Repeat("x", len(testKey))), false},
		{"valid", metadata.Pairs("x-client-id", "android", "authorization", "Bearer "+testKey), true},
	} {
		t.Run("grpc/"+c.name, func(t *testing.T) {
			_, err := client.Dispatch(metadata.NewOutgoingContext(context.Background(), c.md), marker("grpc-"+c.name))
			if c.ok != (err == nil) || (!c.ok && status.Code(err) != codes.Unauthenticated) {
				t.Fatalf("err = %v", err)
			}
		})
	}
	url := "http://" + a.HTTPAddr().String() + "/v1/events"
	for _, c := range []struct {
		name, key string
		want      int
	}{{"none", "", 401}, {"wrong", "nope-nope-nope-nope-nope", 401}, {"valid", testKey, 200}} {
		t.Run("http/"+c.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"header":{"userId":"trust"},"events":[{"id":"http-`+c.name+`","testEvent":{}}]}`))
			req.Header.Set("Content-Type", "application/json")
			if c.key != "" {
				req.Header.Set("x-client-id", "android")
				req.Header.Set("Authorization", "Bearer "+c.key)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Fatalf("%s %s", resp.Status, body)
			}
			if strings.Contains(string(body), testKey) {
				t.Fatal("the key is echoed back")
			}
		})
	}
	waitRows(t, a, "SELECT string_agg(event_id, ',' ORDER BY event_id) FROM event WHERE user_id = 'trust'", "grpc-valid,http-valid")
	// Health stays open without credentials.
	if resp, err := http.Get("http://" + a.HTTPAddr().String() + "/heartbeat"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("heartbeat: %v %v", resp, err)
	}
}

// TestHMACAuth: a bad signature and a request replayed outside the skew
// window are refused and not stored; a correctly signed one is stored.
func TestHMACAuth(t *testing.T) {
	a := start(t, map[string]string{"AUTH_MODE": "hmac", "AUTH_API_KEYS": "web:" + testKey, "AUTH_MAX_SKEW": "2s"})
	url := "http://" + a.HTTPAddr().String() + "/v1/events"
	send := func(id string, at time.Time, tamper bool) int {
		body := []byte(`{"header":{"userId":"trust"},"events":[{"id":"` + id + `","testEvent":{}}]}`)
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		auth.SignHTTP(req.Header, "web", []byte(testKey), at, body)
		if tamper {
			req.Body = io.NopCloser(bytes.NewReader(bytes.Replace(body, []byte("trust"), []byte("trusT"), 1)))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := send("h-tampered", time.Now(), true); code != 401 {
		t.Fatalf("tampered body: %d", code)
	}
	if code := send("h-old", time.Now().Add(-time.Minute), false); code != 401 {
		t.Fatalf("replayed outside the skew window: %d", code)
	}
	if code := send("h-good", time.Now(), false); code != 200 {
		t.Fatalf("signed request: %d", code)
	}
	// gRPC, signed over the deterministic encoding.
	client := eventgrpcv1.NewEventServiceClient(dial(t, a))
	msg := marker("h-grpc")
	md, err := auth.SignGRPC([]byte(testKey), time.Now(), msg)
	if err != nil {
		t.Fatal(err)
	}
	md.Set("x-client-id", "web")
	if _, err := client.Dispatch(metadata.NewOutgoingContext(context.Background(), md), msg); err != nil {
		t.Fatalf("signed gRPC: %v", err)
	}
	bad := metadata.Join(md.Copy())
	bad.Set("x-signature", strings.Repeat("0", 64))
	if _, err := client.Dispatch(metadata.NewOutgoingContext(context.Background(), bad), marker("h-grpc-bad")); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("bad gRPC signature: %v", err)
	}
	waitRows(t, a, "SELECT string_agg(event_id, ',' ORDER BY event_id) FROM event WHERE user_id = 'trust'", "h-good,h-grpc")
}

// TestSameEventsTwicePublishOnce: within the dedupe window a repeated
// request is acknowledged without a second publish, and stored once.
func TestSameEventsTwicePublishOnce(t *testing.T) {
	a := start(t, map[string]string{"REDIS_CLUSTER_ADDRESSES": "127.0.0.1:6379"})
	client := eventgrpcv1.NewEventServiceClient(dial(t, a))
	req := &eventgrpcv1.Events{Header: &eventgrpcv1.Header{UserId: "dup"}, Events: []*eventgrpcv1.Event{
		{Id: fmt.Sprintf("dup-a-%d", time.Now().UnixNano()), EventOf: &eventgrpcv1.Event_LaunchEvent{LaunchEvent: &eventgrpcv1.LaunchEvent{}}},
		{Id: fmt.Sprintf("dup-b-%d", time.Now().UnixNano()), EventOf: &eventgrpcv1.Event_ClickEvent{ClickEvent: &eventgrpcv1.ClickEvent{}}},
	}}
	published := func() string { return metric(t, a, "eventgrpc_publish_messages_total") }
	r1, err := client.Dispatch(context.Background(), req)
	if err != nil || r1.Accepted != 2 {
		t.Fatalf("first: %v %v", r1, err)
	}
	after1 := published()
	r2, err := client.Dispatch(context.Background(), req)
	if err != nil || r2.Accepted != 2 || r2.Status != eventgrpcv1.Status_STATUS_OK {
		t.Fatalf("repeat: %v %v", r2, err)
	}
	if after2 := published(); after2 != after1 {
		t.Fatalf("broker messages went from %s to %s: the repeat was published again", after1, after2)
	}
	waitRows(t, a, "SELECT count(*) FROM event WHERE user_id = 'dup'", "2")
}

func metric(t *testing.T, a *app.App, name string) string {
	t.Helper()
	resp, err := http.Get("http://" + a.HTTPAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == name {
			return f[1]
		}
	}
	return "0"
}
