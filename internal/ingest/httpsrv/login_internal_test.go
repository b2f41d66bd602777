package httpsrv

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestSessionsExpireAndAreBounded(t *testing.T) {
	s, err := newSessions(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	id, exp, err := s.create()
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(now.Add(SessionTTL)) || !s.valid(id) {
		t.Fatalf("a new session: expiry %v, valid %v", exp, s.valid(id))
	}
	now = now.Add(SessionTTL - time.Second)
	if !s.valid(id) {
		t.Fatal("a session is invalid before its expiry")
	}
	now = now.Add(time.Second)
	if s.valid(id) {
		t.Fatal("a session is valid at its expiry")
	}
	if len(s.byHash) != 0 {
		t.Fatalf("the expired session is still held: %d", len(s.byHash))
	}

	// At most MaxSessions: a new one drops the oldest.
	ids := make([]string, 0, MaxSessions+1)
	for range MaxSessions + 1 {
		now = now.Add(time.Second)
		id, _, err := s.create()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if len(s.byHash) != MaxSessions || s.valid(ids[0]) || !s.valid(ids[1]) || !s.valid(ids[MaxSessions]) {
		t.Fatalf("sessions held %d (max %d); oldest valid %v", len(s.byHash), MaxSessions, s.valid(ids[0]))
	}
	if s.valid("") {
		t.Fatal("an empty id is valid")
	}
}

func TestLoginFailuresWindowAndBound(t *testing.T) {
	s, err := newSessions(nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	for range LoginFailuresPerMinute {
		if s.limited("10.0.0.1") {
			t.Fatal("limited before its failures")
		}
		s.failed("10.0.0.1")
	}
	if !s.limited("10.0.0.1") || s.limited("10.0.0.2") {
		t.Fatal("the limit is not per client")
	}
	now = now.Add(time.Minute)
	if s.limited("10.0.0.1") {
		t.Fatal("still limited after a minute")
	}
	// The table of clients is bounded.
	for i := range maxLoginClients + 100 {
		s.failed("c" + string(rune('a'+i%26)) + time.Duration(i).String())
	}
	if len(s.failures) > maxLoginClients+1 {
		t.Fatalf("%d clients tracked, bound %d", len(s.failures), maxLoginClients)
	}
}
