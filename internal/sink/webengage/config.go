package webengage

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/event-grpc/event-grpc/internal/backoff"
)

// Defaults for Config fields left zero.
const (
	DefaultConcurrency   = 4
	DefaultTimeout       = 10 * time.Second
	DefaultRetries       = 3
	DefaultMaxRetryAfter = 30 * time.Second
	DefaultRemember      = 100000
	DefaultRememberFor   = time.Hour
)

// DefaultBackoff paces in-process retries without a Retry-After.
var DefaultBackoff = backoff.Policy{Initial: 200 * time.Millisecond, Max: 5 * time.Second}

// Config configures the WebEngage API client.
type Config struct {
	// EventsURL is the Events API of the main account (WEBENGAGE_URL),
	// e.g. https://api.webengage.com/v1/accounts/{licenseCode}/events.
	EventsURL string
	// UsersURL is its Users API (WEBENGAGE_USER_URL),
	// e.g. https://api.webengage.com/v1/accounts/{licenseCode}/users.
	UsersURL string
	// APIKey is the main account's REST API key (WEBENGAGE_API_KEY).
	APIKey string
	// BrandEventsURL, BrandUsersURL and BrandAPIKey are the same for the
	// brand account (WEBENGAGE_BRAND_URL, WEBENGAGE_BRAND_USER_URL,
	// WEBENGAGE_BRAND_API_KEY), used by queues with option account: brand.
	BrandEventsURL string
	BrandUsersURL  string
	BrandAPIKey    string
	// Concurrency bounds the requests in flight per API key, across every
	// queue that uses the key (WEBENGAGE_CONCURRENCY). Default 4.
	Concurrency int
	// Timeout bounds one request (WEBENGAGE_TIMEOUT). Default 10s.
	Timeout time.Duration
	// Retries is how many times a transient failure is retried in process
	// before the batch is held (WEBENGAGE_RETRIES). Default 3; -1 for none.
	Retries int
	// Backoff paces retries when the answer has no Retry-After.
	Backoff backoff.Policy
	// MaxRetryAfter caps the wait a Retry-After asks for. Default 30s.
	MaxRetryAfter time.Duration
	// Remember bounds the keys of deliveries already sent (so a held batch
	// re-sends only the rest), kept for RememberFor. Defaults 100000, 1h.
	Remember    int
	RememberFor time.Duration
	// HTTPClient sends the requests; nil means a client of its own.
	HTTPClient *http.Client
}

func (c Config) withDefaults() Config {
	c.Concurrency = cmp.Or(c.Concurrency, DefaultConcurrency)
	c.Timeout = cmp.Or(c.Timeout, DefaultTimeout)
	c.Retries = max(cmp.Or(c.Retries, DefaultRetries), 0) // negative: none
	c.Backoff = cmp.Or(c.Backoff, DefaultBackoff)
	c.MaxRetryAfter = cmp.Or(c.MaxRetryAfter, DefaultMaxRetryAfter)
	c.Remember = cmp.Or(c.Remember, DefaultRemember)
	c.RememberFor = cmp.Or(c.RememberFor, DefaultRememberFor)
	return c
}

// Validate reports every problem at once, naming the variable at fault.
// URLs and keys may be empty: a queue that needs one fails when its
// handler is made (ErrNotConfigured).
func (c Config) Validate() error {
	var errs []error
	for _, u := range []struct{ name, v string }{
		{"WEBENGAGE_URL", c.EventsURL}, {"WEBENGAGE_USER_URL", c.UsersURL},
		{"WEBENGAGE_BRAND_URL", c.BrandEventsURL}, {"WEBENGAGE_BRAND_USER_URL", c.BrandUsersURL},
	} {
		if u.v == "" {
			continue
		}
		p, err := url.Parse(u.v)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("%s: %q is not an http(s) URL", u.name, u.v))
		}
	}
	if c.Concurrency < 0 || c.Concurrency > 1024 {
		errs = append(errs, fmt.Errorf("WEBENGAGE_CONCURRENCY: %d is outside 1..1024", c.Concurrency))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("WEBENGAGE_TIMEOUT: negative"))
	}
	if c.Retries > 100 {
		errs = append(errs, fmt.Errorf("WEBENGAGE_RETRIES: %d is over 100", c.Retries))
	}
	if c.MaxRetryAfter < 0 || c.Remember < 0 || c.RememberFor < 0 {
		errs = append(errs, errors.New("webengage: max retry after, remember and remember for must not be negative"))
	}
	return errors.Join(errs...)
}

// ConfigFromEnv reads the configuration through lookup (os.LookupEnv, or
// internal/config's Lookup). The error names every variable at fault.
func ConfigFromEnv(lookup func(string) (string, bool)) (Config, error) {
	var errs []error
	str := func(k string) string {
		v, _ := lookup(k)
		return strings.TrimSpace(v)
	}
	num := func(k string, def int) int {
		return parseVar(k, str(k), def, strconv.Atoi, "an integer", &errs)
	}
	dur := func(k string, def time.Duration) time.Duration {
		return parseVar(k, str(k), def, time.ParseDuration, "a duration (e.g. 10s)", &errs)
	}
	c := Config{
		EventsURL:      str("WEBENGAGE_URL"),
		UsersURL:       str("WEBENGAGE_USER_URL"),
		APIKey:         str("WEBENGAGE_API_KEY"),
		BrandEventsURL: str("WEBENGAGE_BRAND_URL"),
		BrandUsersURL:  str("WEBENGAGE_BRAND_USER_URL"),
		BrandAPIKey:    str("WEBENGAGE_BRAND_API_KEY"),
		Concurrency:    num("WEBENGAGE_CONCURRENCY", DefaultConcurrency),
		Timeout:        dur("WEBENGAGE_TIMEOUT", DefaultTimeout),
		Retries:        num("WEBENGAGE_RETRIES", DefaultRetries),
	}
	if c.Concurrency == 0 {
		errs = append(errs, errors.New("WEBENGAGE_CONCURRENCY: must be at least 1"))
	}
	if c.Retries == 0 {
		c.Retries = -1 // set to 0: no in-process retries
	}
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

// parseVar is variable k's value v read with parse, def when v is empty; a
// value parse refuses adds an error to errs naming k and what v is not
// (want), and def stands.
func parseVar[T any](k, v string, def T, parse func(string) (T, error), want string, errs *[]error) T {
	if v == "" {
		return def
	}
	x, err := parse(v)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%s: %q is not %s", k, v, want))
		return def
	}
	return x
}
