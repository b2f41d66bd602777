package rabbitmq

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/event-grpc/event-grpc/internal/topology"
)

// Config configures a Broker.
type Config struct {
	// URL is amqp://user:pass@host:port/vhost (see URL), or amqps://
	// for TLS.
	URL string
	// URLs, when set, are the nodes of a cluster (amqp:// or amqps://
	// each), tried in turn: a connection goes to the first that answers,
	// and after a loss the next one is tried first. URL is then ignored.
	URLs []string
	// TLS configures amqps:// connections (CA, server name, client
	// certificate). Nil uses the system roots and the URL's host name.
	TLS *tls.Config
	// QueueType is the type of the topology's queues that name none
	// (topology.QueueClassic or QueueQuorum); empty means quorum when
	// URLs lists several nodes, classic otherwise.
	QueueType string
	// NackReopen closes and reopens a publisher channel after this many
	// nacks in a row: on a cluster, a channel opened during a quorum
	// queue's leader election can be nacked forever, while a fresh one
	// is acked. Zero means 10.
	NackReopen int
	// Heartbeat is the AMQP heartbeat interval; a connection silent for two
	// intervals counts as lost. Zero means 10s.
	Heartbeat time.Duration
	// Topology is declared on connect and on every reconnect. Nil declares
	// nothing.
	Topology *topology.Topology
	// TypedExchanges names exchanges of the topology that consumers outside
	// it read, as topology.Exchange.Typed does (either marks one): the
	// service publishes to them one message per event type, the type as
	// routing key. Events for the other exchanges of the topology are
	// packed per destination queue (see Packs).
	TypedExchanges []string
	// Logger receives connection events (never one line per message). Nil
	// means slog.Default().
	Logger *slog.Logger
	// Registerer receives the broker's metrics. Nil means no metrics.
	Registerer prometheus.Registerer
	// PublishChannels is the size of the publisher channel pool. Zero
	// means 4.
	PublishChannels int
	// ConfirmWindow bounds the unconfirmed messages of one publisher
	// channel. Zero means 1024.
	ConfirmWindow int
	// PublishTimeout bounds one Publish call: waiting for room in a
	// confirm window and for the confirms. Zero means 5s.
	PublishTimeout time.Duration
}

// Defaults for Config fields left zero.
const (
	DefaultHeartbeat       = 10 * time.Second
	DefaultPublishChannels = 4
	DefaultConfirmWindow   = 1024
	DefaultPublishTimeout  = 5 * time.Second
	DefaultNackReopen      = 10
)

// dialTimeout bounds the TCP connect and AMQP handshake of one dial.
const dialTimeout = 5 * time.Second

func (c Config) withDefaults() Config {
	c.Heartbeat = cmp.Or(c.Heartbeat, DefaultHeartbeat)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	c.PublishChannels = cmp.Or(c.PublishChannels, DefaultPublishChannels)
	c.ConfirmWindow = cmp.Or(c.ConfirmWindow, DefaultConfirmWindow)
	c.PublishTimeout = cmp.Or(c.PublishTimeout, DefaultPublishTimeout)
	c.NackReopen = cmp.Or(c.NackReopen, DefaultNackReopen)
	if len(c.URLs) == 0 && c.URL != "" {
		c.URLs = []string{c.URL}
	}
	if c.QueueType == "" {
		c.QueueType = topology.QueueClassic
		if len(c.URLs) > 1 {
			c.QueueType = topology.QueueQuorum
		}
	}
	return c
}

// validate reports every problem of the (defaulted) configuration.
func (c Config) validate() error {
	var errs []error
	if len(c.URLs) == 0 {
		errs = append(errs, errors.New("rabbitmq: URL is empty"))
	}
	for i, u := range c.URLs {
		if _, err := amqp.ParseURI(u); err != nil {
			errs = append(errs, fmt.Errorf("rabbitmq: URLs[%d] (%s): %w", i, redact(u), err))
		}
	}
	switch c.QueueType {
	case topology.QueueClassic, topology.QueueQuorum:
	default:
		errs = append(errs, fmt.Errorf("rabbitmq: QueueType %q is not classic or quorum", c.QueueType))
	}
	if c.NackReopen < 1 {
		errs = append(errs, fmt.Errorf("rabbitmq: NackReopen %d is below 1", c.NackReopen))
	}
	if c.Heartbeat < time.Second {
		errs = append(errs, fmt.Errorf("rabbitmq: Heartbeat %s is below 1s", c.Heartbeat))
	}
	if c.PublishChannels < 1 || c.PublishChannels > 256 {
		errs = append(errs, fmt.Errorf("rabbitmq: PublishChannels %d is outside 1..256", c.PublishChannels))
	}
	if c.ConfirmWindow < 1 || c.ConfirmWindow > 1<<16 {
		errs = append(errs, fmt.Errorf("rabbitmq: ConfirmWindow %d is outside 1..65536", c.ConfirmWindow))
	}
	for _, name := range c.TypedExchanges {
		if c.Topology == nil {
			errs = append(errs, fmt.Errorf("rabbitmq: TypedExchanges names %q but there is no topology", name))
		} else if _, ok := c.Topology.Exchange(name); !ok {
			errs = append(errs, fmt.Errorf("rabbitmq: TypedExchanges: %q is not an exchange of the topology", name))
		}
	}
	if c.PublishTimeout < 0 {
		errs = append(errs, fmt.Errorf("rabbitmq: PublishTimeout %s is negative", c.PublishTimeout))
	}
	return errors.Join(errs...)
}

// URL builds an AMQP URL from its parts, as the seed system's RABBIT_HOST,
// RABBIT_PORT, RABBIT_USER, RABBIT_PASSWORD and RABBIT_VHOST give them. The
// credentials and the vhost are escaped, so "/" (the default vhost, also
// used when vhost is empty) becomes "%2F".
func URL(host string, port int, user, password, vhost string) string {
	if vhost == "" {
		vhost = "/"
	}
	u := url.URL{
		Scheme:  "amqp",
		User:    url.UserPassword(user, password),
		Host:    net.JoinHostPort(host, strconv.Itoa(port)),
		Path:    "/" + vhost,
		RawPath: "/" + url.PathEscape(vhost),
	}
	return u.String()
}

// redact returns the URL without its password, for logs and errors.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
