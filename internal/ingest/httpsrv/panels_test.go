package httpsrv_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-grpc/event-grpc/internal/health"
	"github.com/event-grpc/event-grpc/internal/ingest/httpsrv"
	"github.com/event-grpc/event-grpc/internal/telemetry"
)

// The status data carries the panels: the DATA_DIR filesystem, the
// rejected-event samples; GET /admin/history answers behind the guard.
func TestStatusPanelsAndHistory(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	reg.MustRegister(telemetry.NewDiskCollector(dir))
	rejects := httpsrv.NewRejects()
	rejects.Add(httpsrv.RejectSample{Source: "http", Reason: "timestamp is older than the accepted age", Body: `{"id":"x"}`})
	hist := httpsrv.NewHistory(reg, "")
	hist.Start()
	t.Cleanup(func() { hist.Shutdown(context.Background()) })
	srv := httpsrv.New(httpsrv.Config{Addr: "127.0.0.1:0", MaxBodyBytes: 1 << 20, QueryRemote: true, AdminToken: adminToken,
		Logger: slog.New(slog.DiscardHandler), Gatherer: reg}, nil, health.New())
	srv.MountStatus(httpsrv.StatusConfig{Gatherer: reg, History: hist, Rejects: rejects})
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	base := "http://" + srv.Addr().String()

	r := request(t, "GET", base+"/admin/status", "127.0.0.1", nil, "")
	var st httpsrv.Status
	if err := json.NewDecoder(r.Body).Decode(&st); err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("status: %d %v", r.StatusCode, err)
	}
	want, err := telemetry.StatDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Disk == nil || st.Disk.Path != dir || st.Disk.Size != float64(want.Size) || st.Disk.Used <= 0 || st.Disk.Free <= 0 {
		t.Fatalf("disk panel: %+v, want %+v", st.Disk, want)
	}
	if len(st.Rejections) != 1 || st.Rejections[0].Reason != "timestamp is older than the accepted age" || st.Rejections[0].Body != `{"id":"x"}` {
		t.Fatalf("rejections: %+v", st.Rejections)
	}
	if st.Session {
		t.Fatal("a local request without a session says session")
	}

	for _, c := range []struct {
		host, url string
		hdr       map[string]string
		want      int
	}{
		{"127.0.0.1", "/admin/history?res=1s", nil, http.StatusOK},
		{"127.0.0.1", "/admin/history?res=1m&since=1", nil, http.StatusOK},
		{"127.0.0.1", "/admin/history?res=1h", nil, http.StatusBadRequest},
		{"127.0.0.1", "/admin/history?since=x", nil, http.StatusBadRequest},
		{"console.example", "/admin/history", nil, http.StatusUnauthorized},
		{"console.example", "/admin/history", map[string]string{"Authorization": "Bearer " + adminToken}, http.StatusOK},
	} {
		r := request(t, "GET", base+c.url, c.host, c.hdr, "")
		if r.StatusCode != c.want {
			t.Errorf("GET %s (Host %s): %d, want %d", c.url, c.host, r.StatusCode, c.want)
		}
		if c.want == http.StatusOK {
			var h struct {
				Series map[string][]*float64 `json:"series"`
			}
			if err := json.NewDecoder(r.Body).Decode(&h); err != nil || len(h.Series) != len(httpsrv.HistorySeries) {
				t.Errorf("GET %s: %v, %d series", c.url, err, len(h.Series))
			}
		}
	}
}
