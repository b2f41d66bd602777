package rabbitmq

import (
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

func TestURL(t *testing.T) {
	tests := []struct {
		name           string
		host           string
		port           int
		user, password string
		vhost          string
		want           string
		wantVhost      string
	}{
		{name: "default vhost", host: "127.0.0.1", port: 5672, user: "guest", password: "guest", vhost: "/",
			want: "amqp://guest:guest@127.0.0.1:5672/%2F", wantVhost: "/"},
		{name: "empty vhost is the default", host: "rabbit", port: 5672, user: "u", password: "p", vhost: "",
			want: "amqp://u:p@rabbit:5672/%2F", wantVhost: "/"},
		{name: "named vhost", host: "rabbit", port: 5673, user: "u", password: "p", vhost: "events",
			want: "amqp://u:p@rabbit:5673/events", wantVhost: "events"},
		{name: "vhost with slash", host: "rabbit", port: 5672, user: "u", password: "p", vhost: "a/b",
			want: "amqp://u:p@rabbit:5672/a%2Fb", wantVhost: "a/b"},
		{name: "reserved characters in password", host: "rabbit", port: 5672, user: "u", password: "p@s:s/w?#", vhost: "/",
			want: "amqp://u:p%40s%3As%2Fw%3F%23@rabbit:5672/%2F", wantVhost: "/"},
		{name: "ipv6 host", host: "::1", port: 5672, user: "u", password: "p", vhost: "/",
			want: "amqp://u:p@[::1]:5672/%2F", wantVhost: "/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := URL(tc.host, tc.port, tc.user, tc.password, tc.vhost)
			if got != tc.want {
				t.Fatalf("URL = %q, want %q", got, tc.want)
			}
			u, err := amqp.ParseURI(got)
			if err != nil {
				t.Fatalf("ParseURI(%q): %v", got, err)
			}
			if u.Vhost != tc.wantVhost || u.Username != tc.user || u.Password != tc.password || u.Port != tc.port {
				t.Fatalf("ParseURI(%q) = vhost %q user %q password %q port %d", got, u.Vhost, u.Username, u.Password, u.Port)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{URL: testURL}, true},
		{"no URL", Config{}, false},
		{"bad scheme", Config{URL: "http://x"}, false},
		{"negative channels", Config{URL: testURL, PublishChannels: -1}, false},
		{"huge window", Config{URL: testURL, ConfirmWindow: 1 << 20}, false},
		{"short heartbeat", Config{URL: testURL, Heartbeat: 1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.withDefaults().validate()
			if (err == nil) != tc.ok {
				t.Fatalf("validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
