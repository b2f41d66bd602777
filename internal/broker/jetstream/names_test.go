package jetstream

import (
	"strings"
	"testing"

	"github.com/event-grpc/event-grpc/internal/topology"
)

func TestToken(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"grpc_clickhouse_event_q", "grpc_clickhouse_event_q"},
		{"q.error", "q_error"},
		{"a b*c>d", "a_b_c_d"},
		{"Ünï", "_n_"}, // each rune becomes one '_'
		{"with-dash", "with-dash"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := token(tc.in); got != tc.want {
				t.Errorf("token(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestNames(t *testing.T) {
	q := func(name string) topology.Queue { return topology.Queue{Name: name} }
	n, err := newNames("S", &topology.Topology{Queues: []topology.Queue{q("a"), q("b")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := n.byQueue["a"]; got.subject != "S.q.a" || got.durable != "a" || got.owner != "" {
		t.Errorf("a → %+v", got)
	}
	if e := n.byQueue["a.error"]; e.subject != "S.q.a_error" || e.owner != "a" {
		t.Errorf("a.error → %+v", e)
	}

	// Names that map to the same token collide.
	for _, tc := range []struct {
		name    string
		queues  []topology.Queue
		wantErr string
	}{
		{name: "dot and underscore collide", queues: []topology.Queue{q("a.b"), q("a_b")}, wantErr: `"a.b" and "a_b"`},
		{name: "error queue collides", queues: []topology.Queue{q("a"), q("a_error")}, wantErr: `"a.error" and "a_error"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newNames("S", &topology.Topology{Queues: tc.queues})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
			}
		})
	}
}
