package app

import (
	"strings"

	"github.com/event-grpc/event-grpc/internal/config"
)

// offLine is the one INFO line a start prints about the optional parts no
// setting turned on, each with the variable that would: a newcomer sees
// what exists without a warning per part. It returns "" when everything
// is configured. authOff and openWebhooks (the secret variables of the
// webhooks accepting unauthenticated requests) are listed for ENV=local
// only: elsewhere the first is a WARN and the second a configuration error.
func offLine(cfg *config.Config, authOff bool, openWebhooks []string, webengageIdle bool) string {
	var off []string
	local := cfg.Env == "local"
	if authOff && local {
		off = append(off, "ingest authentication (AUTH_MODE)")
	}
	if len(openWebhooks) > 0 && local {
		off = append(off, "webhook signature checks ("+strings.Join(openWebhooks, ", ")+")")
	}
	if webengageIdle {
		off = append(off, "WebEngage API sink and its queues (WEBENGAGE_URL, WEBENGAGE_USER_URL)")
	}
	if cfg.Sink.Postgres.Host == "" {
		off = append(off, "PostgreSQL store (POSTGRES_HOST)")
	}
	if cfg.Dedupe.Window > 0 && len(cfg.Dedupe.RedisAddrs) == 0 {
		off = append(off, "shared dedupe in Redis (REDIS_CLUSTER_ADDRESSES)")
	}
	if cfg.Sentry.DSN == "" {
		off = append(off, "error reporting (SENTRY_DSN)")
	}
	return strings.Join(off, "; ")
}

// webengageUnset reports whether no WebEngage account is configured at all
// (its queues are then off, not misconfigured).
func webengageUnset(cfg *config.Config) bool {
	w := cfg.WebEngage
	return w.EventsURL == "" && w.UsersURL == "" && w.BrandEventsURL == "" && w.BrandUsersURL == ""
}
