package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/app"
	"github.com/event-grpc/event-grpc/internal/app/apptest"
	"github.com/event-grpc/event-grpc/internal/ingest/httpsrv"
)

// start runs the whole service in-process on random ports with the
// zero-configuration defaults (embedded JetStream, DuckDB) in a temp dir.
func start(t *testing.T, env map[string]string) *app.App { return apptest.Start(t, env) }

func dial(t *testing.T, a *app.App) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(a.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// query runs sql through the query endpoint.
func query(t *testing.T, a *app.App, sql string) [][]string {
	t.Helper()
	return apptest.Query(t, a, sql)
}

// waitRows polls, for up to 20 s, until sql returns want in its first cell.
func waitRows(t *testing.T, a *app.App, sql, want string) {
	t.Helper()
	apptest.WaitRows(t, a, 20*time.Second, sql, want)
}

func TestDispatchLandsInEventTable(t *testing.T) {
	a := start(t, nil)
	client := eventgrpcv1.NewEventServiceClient(dial(t, a))
	now := time.Now()
	req := &eventgrpcv1.Events{
		Header: &eventgrpcv1.Header{SessionId: "sess-1", UserId: "user-7", ClientId: "android", Os: "android", AppVersion: "5.1.0", UtmCampaign: "diwali", DeviceModel: "Pixel 8"},
		Events: []*eventgrpcv1.Event{
			{Id: "e-launch", Timestamp: strconv.FormatInt(now.Add(-time.Minute).UnixMilli(), 10), EventOf: &eventgrpcv1.Event_LaunchEvent{LaunchEvent: &eventgrpcv1.LaunchEvent{}}},
			{Timestamp: strconv.FormatInt(now.Add(72*time.Hour).UnixMilli(), 10), EventOf: &eventgrpcv1.Event_AddToCartEvent{AddToCartEvent: &eventgrpcv1.AddToCartEvent{ProductId: "sku-9", Price: 499.5, Currency: "INR", Quantity: 2}}},
			{Id: "e-empty"},
		},
	}
	resp, err := client.Dispatch(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != eventgrpcv1.Status_STATUS_PARTIAL || resp.Accepted != 2 {
		t.Fatalf("response %v", resp)
	}
	if r := resp.Results[2]; r.Accepted || !strings.Contains(r.Reason, "eventOf") {
		t.Fatalf("empty event result = %v", r)
	}
	minted := resp.Results[1].EventId
	if minted == "" {
		t.Fatal("no id minted")
	}
	waitRows(t, a, "SELECT count(*) FROM event", "2")

	rows := query(t, a, fmt.Sprintf(`SELECT event_name, session_id, user_id, client_id, app_version, utm_campaign, device_model,
		json_extract_string(event_params, '$.product_id'), json_extract_string(event_params, '$.price'),
		abs(epoch_ms(event_timestamp) - epoch_ms(insert_timestamp)) < 5000
		FROM event WHERE event_id = '%s'`, minted))
	want := []string{"AddToCartEvent", "sess-1", "user-7", "android", "5.1.0", "diwali", "Pixel 8", "sku-9", "499.5", "1"}
	if len(rows) != 1 || strings.Join(rows[0], "|") != strings.Join(want, "|") {
		t.Fatalf("row = %v\nwant  %v", rows, want)
	}

	// The same request again (a client retry): no second row.
	if _, err := client.Dispatch(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	req2 := &eventgrpcv1.Events{Events: []*eventgrpcv1.Event{{Id: "marker", EventOf: &eventgrpcv1.Event_TestEvent{TestEvent: &eventgrpcv1.TestEvent{}}}}}
	if _, err := client.Dispatch(context.Background(), req2); err != nil {
		t.Fatal(err)
	}
	waitRows(t, a, "SELECT count(*) FROM event WHERE event_id = 'marker'", "1")
	waitRows(t, a, "SELECT count(*) FROM event WHERE event_id = 'e-launch'", "1")
}

func TestHeartbeatDrivesHealth(t *testing.T) {
	a := start(t, nil)
	hc := healthpb.NewHealthClient(dial(t, a))
	base := "http://" + a.HTTPAddr().String() + "/heartbeat"
	check := func(wantHTTP int, wantGRPC healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			resp, err := http.Get(base)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			h, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode == wantHTTP && h.Status == wantGRPC {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("heartbeat %d, grpc %v; want %d, %v", resp.StatusCode, h.Status, wantHTTP, wantGRPC)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	put := func(beat string) {
		req, _ := http.NewRequest(http.MethodPut, base+"?beat="+beat, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("PUT beat=%s: %s", beat, resp.Status)
		}
	}
	check(200, healthpb.HealthCheckResponse_SERVING)
	put("false")
	check(503, healthpb.HealthCheckResponse_NOT_SERVING)
	put("true")
	check(200, healthpb.HealthCheckResponse_SERVING)
}

func TestHTTPIngestErrors(t *testing.T) {
	a := start(t, map[string]string{"HTTP_MAX_BODY_BYTES": "2048"})
	url := "http://" + a.HTTPAddr().String() + "/v1/events"
	cases := []struct {
		name, ctype, body string
		code              int
		says              string
	}{
		{"malformed json", "application/json", `{"events": [`, 400, "not an Events message"},
		{"unknown field", "application/json", `{"evnts": []}`, 400, "evnts"},
		{"wrong content type", "application/xml", `<events/>`, 415, "content type"},
		{"too large", "application/json", `{"events":[` + strings.Repeat(`{"testEvent":{}},`, 200) + `{"testEvent":{}}]}`, 413, "2048 byte limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := http.Post(url, c.ctype, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.code || !strings.Contains(string(b), c.says) {
				t.Fatalf("%s %s, want %d saying %q", resp.Status, b, c.code, c.says)
			}
		})
	}
	resp, err := http.Post(url, "application/json", strings.NewReader(`{"header":{"userId":"u1"},"events":[{"id":"h1","testEvent":{}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"STATUS_OK"`) {
		t.Fatalf("valid JSON request: %s %s", resp.Status, b)
	}
	waitRows(t, a, "SELECT user_id FROM event WHERE event_id = 'h1'", "u1")
}

func TestQueryRefusesWrites(t *testing.T) {
	a := start(t, nil)
	resp, err := apptest.PostQuery(a, "DROP TABLE event")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("DROP TABLE answered %s", resp.Status)
	}
	waitRows(t, a, "SELECT count(*) FROM event", "0")
}

func TestOversizedGRPCRequestIsRefused(t *testing.T) {
	a := start(t, map[string]string{"GRPC_MAX_RECV_BYTES": "1024"})
	client := eventgrpcv1.NewEventServiceClient(dial(t, a))
	big := &eventgrpcv1.Events{Header: &eventgrpcv1.Header{CurrentURL: strings.Repeat("x", 4096)}, Events: []*eventgrpcv1.Event{{EventOf: &eventgrpcv1.Event_TestEvent{TestEvent: &eventgrpcv1.TestEvent{}}}}}
	_, err := client.Dispatch(context.Background(), big)
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("err = %v, want RESOURCE_EXHAUSTED", err)
	}
}

func TestAccountingBalances(t *testing.T) {
	a := start(t, nil)
	client := eventgrpcv1.NewEventServiceClient(dial(t, a))
	req := &eventgrpcv1.Events{Events: []*eventgrpcv1.Event{
		{EventOf: &eventgrpcv1.Event_LaunchEvent{LaunchEvent: &eventgrpcv1.LaunchEvent{}}},
		{EventOf: &eventgrpcv1.Event_ClickEvent{ClickEvent: &eventgrpcv1.ClickEvent{}}},
		{Id: "no-payload"},
	}}
	for range 3 {
		if _, err := client.Dispatch(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	waitRows(t, a, "SELECT count(*) FROM event", "6")
	var acc httpsrv.Accounting
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + a.HTTPAddr().String() + "/admin/accounting")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&acc)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if acc.Totals.Stored == 6 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	tot := acc.Totals
	if tot.Received != 9 || tot.Accepted != 6 || tot.Rejected != 3 || tot.Stored != 6 || tot.InFlight != 0 {
		t.Fatalf("totals = %+v", tot)
	}
	if !tot.ReceivedBalances || !tot.AcceptedAccounted {
		t.Fatalf("books do not balance: %+v", tot)
	}
	if acc.Types["ClickEvent"].Stored != 3 || acc.Sources["grpc"].Rejected["no_event_of"] != 3 {
		t.Fatalf("per type/source: %+v %+v", acc.Types["ClickEvent"], acc.Sources["grpc"])
	}
}
