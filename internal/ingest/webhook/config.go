package webhook

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Defaults for Config fields the environment leaves unset.
const (
	DefaultWorkers      = 16
	DefaultQueue        = 256
	DefaultDedupeWindow = 10000
)

// Provider configures one provider's endpoint.
type Provider struct {
	// Secret verifies the provider's requests (<NAME>_WEBHOOK_SECRET): the
	// HMAC key for Shopify, the webhook secret key for WebEngage, the
	// shared token for the others. Empty accepts unauthenticated requests,
	// which only ENV=local allows (see ConfigFromEnv).
	Secret string
	// Enabled mounts the provider's endpoint (<NAME>_WEBHOOK_ENABLED,
	// default true). A disabled provider has no route: its path answers
	// 404.
	Enabled bool
	// Workers publish concurrently (<NAME>_EVENT_WORKER_POOL_SIZE).
	Workers int
	// Queue bounds the requests waiting for a worker
	// (<NAME>_EVENT_BUFFERED_CHANNEL_SIZE); beyond it requests are refused
	// with 429. Zero means a request is taken only by an idle worker.
	Queue int
}

// Config configures every provider.
type Config struct {
	Branch    Provider
	WebEngage Provider
	Vidooly   Provider
	Shopify   Provider
	Graphy    Provider
	// DedupeWindow switches the de-duplication window of Shopify
	// deliveries, which answers a repeated delivery without publishing it
	// again (SHOPIFY_WEBHOOK_DEDUPE_SIZE). Zero turns it off; the broker
	// and storage still de-duplicate on the id. Otherwise the webhooks use
	// the window New is given (the service's, DEDUPE_*), or, given none, a
	// local window of this many ids (see window.go).
	DedupeWindow int
}

// providerEnv names the environment prefix of each provider.
var providerEnv = []struct {
	prefix string
	get    func(*Config) *Provider
}{
	{"BRANCH", func(c *Config) *Provider { return &c.Branch }},
	{"WEBENGAGE", func(c *Config) *Provider { return &c.WebEngage }},
	{"VIDOOLY", func(c *Config) *Provider { return &c.Vidooly }},
	{"SHOPIFY", func(c *Config) *Provider { return &c.Shopify }},
	{"GRAPHY", func(c *Config) *Provider { return &c.Graphy }},
}

// DefaultConfig has no secrets and the default pool sizes.
func DefaultConfig() Config {
	var c Config
	for _, p := range providerEnv {
		*p.get(&c) = Provider{Enabled: true, Workers: DefaultWorkers, Queue: DefaultQueue}
	}
	c.DedupeWindow = DefaultDedupeWindow
	return c
}

// ConfigFromEnv reads the configuration through lookup (os.LookupEnv, or
// internal/config's Lookup). Unset or empty variables take the defaults.
// The error names every variable at fault.
//
// One trust model for every route: outside env "local" (ENV), an enabled
// provider without its secret is an error, as AUTH_MODE unset is — an
// endpoint that anyone may post to is switched off explicitly with
// <NAME>_WEBHOOK_ENABLED=false, never left open by omission.
func ConfigFromEnv(lookup func(string) (string, bool), env string) (Config, error) {
	c := DefaultConfig()
	var errs []error
	num := func(key string, def int) int {
		v, ok := lookup(key)
		if !ok || strings.TrimSpace(v) == "" {
			return def
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not an integer", key, v))
			return def
		}
		return n
	}
	for _, p := range providerEnv {
		dst := p.get(&c)
		if v, ok := lookup(p.prefix + "_WEBHOOK_SECRET"); ok {
			dst.Secret = strings.TrimSpace(v)
		}
		if v, ok := lookup(p.prefix + "_WEBHOOK_ENABLED"); ok && strings.TrimSpace(v) != "" {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s_WEBHOOK_ENABLED: %q is not true or false", p.prefix, v))
			} else {
				dst.Enabled = b
			}
		}
		if env != "local" && dst.Enabled && dst.Secret == "" {
			errs = append(errs, fmt.Errorf("%s_WEBHOOK_SECRET must be set outside ENV=local (or set %s_WEBHOOK_ENABLED=false to turn the endpoint off)", p.prefix, p.prefix))
		}
		dst.Workers = num(p.prefix+"_EVENT_WORKER_POOL_SIZE", dst.Workers)
		dst.Queue = num(p.prefix+"_EVENT_BUFFERED_CHANNEL_SIZE", dst.Queue)
	}
	c.DedupeWindow = num("SHOPIFY_WEBHOOK_DEDUPE_SIZE", c.DedupeWindow)
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

// Validate reports every problem at once, naming the variable at fault.
func (c Config) Validate() error {
	var errs []error
	for _, p := range providerEnv {
		v := *p.get(&c)
		if v.Workers < 1 || v.Workers > 4096 {
			errs = append(errs, fmt.Errorf("%s_EVENT_WORKER_POOL_SIZE: %d is outside 1..4096", p.prefix, v.Workers))
		}
		if v.Queue < 0 || v.Queue > 1<<20 {
			errs = append(errs, fmt.Errorf("%s_EVENT_BUFFERED_CHANNEL_SIZE: %d is outside 0..1048576", p.prefix, v.Queue))
		}
	}
	if c.DedupeWindow < 0 || c.DedupeWindow > 1<<24 {
		errs = append(errs, fmt.Errorf("SHOPIFY_WEBHOOK_DEDUPE_SIZE: %d is outside 0..16777216", c.DedupeWindow))
	}
	return errors.Join(errs...)
}
