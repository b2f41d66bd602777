package topology

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Exchange kinds, as RabbitMQ names them.
const (
	KindTopic  = "topic"
	KindDirect = "direct"
	KindFanout = "fanout"
)

// Handlers a queue can be wired to.
const (
	// HandlerEvents decodes the pipeline's protobuf event batches and writes
	// the event rows to the queue's tables.
	HandlerEvents = "events"
	// HandlerJSON decodes one JSON object (or an array of them) per message,
	// as other services publish them, into the queue's table.
	HandlerJSON = "json"
	// HandlerWebEngage forwards events to the WebEngage REST API.
	HandlerWebEngage = "webengage"
)

// Topology is the whole broker layout.
type Topology struct {
	// ErrorExchange receives dead-lettered messages; each queue's error
	// queue is bound to it with the queue's name as routing key.
	ErrorExchange string     `yaml:"error_exchange"`
	Exchanges     []Exchange `yaml:"exchanges"`
	Queues        []Queue    `yaml:"queues"`
	// QueueType is the RabbitMQ queue type of queues that do not name
	// their own: "classic" or "quorum"; empty leaves it to the service
	// (RABBIT_QUEUE_TYPE: quorum when RabbitMQ is given several
	// addresses, classic otherwise). Other brokers ignore it.
	QueueType string `yaml:"queue_type,omitempty"`
}

// RabbitMQ queue types (Queue.QueueType, Topology.QueueType).
const (
	QueueClassic = "classic"
	QueueQuorum  = "quorum"
)

// Exchange is a named router of messages by routing key.
type Exchange struct {
	Name string `yaml:"name"`
	Kind string `yaml:"kind"` // topic, direct or fanout
	// Typed marks an exchange that consumers outside the topology read,
	// binding their own queues by routing key (RabbitMQ only; also
	// RABBIT_TYPED_EXCHANGES). The service publishes to it one message per
	// event type with the type as routing key, routed by the server's
	// bindings. Otherwise the service packs its events per destination
	// queue of the topology and stores them straight in those queues, so
	// a queue bound to the exchange outside the topology gets none of
	// them. Other brokers ignore it.
	Typed bool `yaml:"typed,omitempty"`
}

// Binding routes messages of Exchange whose routing key matches Key to a
// queue. In topic exchanges `*` matches one dot-separated word and `#` zero
// or more.
type Binding struct {
	Exchange string `yaml:"exchange"`
	Key      string `yaml:"key"`
}

// Batch is the policy by which consumers hand messages to the handler: a
// batch closes at MaxMessages messages, MaxBytes bytes of bodies, or MaxWait
// after its first message, whichever comes first.
type Batch struct {
	MaxMessages int           `yaml:"max_messages"`
	MaxBytes    int           `yaml:"max_bytes"`
	MaxWait     time.Duration `yaml:"max_wait"`
}

// Queue is a durable queue, its consumers and what they do.
type Queue struct {
	Name      string    `yaml:"name"`
	Bindings  []Binding `yaml:"bindings"`
	Consumers int       `yaml:"consumers"`
	// Prefetch bounds the unacknowledged messages one consumer holds.
	Prefetch int   `yaml:"prefetch"`
	Batch    Batch `yaml:"batch"`
	// MaxRetries is how many times a permanently failing message is
	// retried (x-retry-count) before it is dead-lettered.
	MaxRetries int `yaml:"max_retries"`
	// Handler names what consumes the queue (see the Handler constants).
	Handler string `yaml:"handler"`
	// Tables the handler writes; a message is acked only once every table
	// has committed its rows.
	Tables []string `yaml:"tables,omitempty"`
	// Options are handler-specific settings (for example which API a
	// webengage queue calls).
	Options map[string]string `yaml:"options,omitempty"`
	// MaxBytes bounds the bodies the queue holds (0: DefaultQueueMaxBytes);
	// beyond it publishes to this queue are refused. See bounds.go.
	MaxBytes int64 `yaml:"max_bytes,omitempty"`
	// QueueType is the queue's RabbitMQ type, "classic" or "quorum"
	// (empty: the topology's QueueType, then the service's default). A
	// classic queue lives on one node of a cluster; a quorum queue is
	// replicated and survives the loss of a minority of nodes.
	QueueType string `yaml:"queue_type,omitempty"`
	// DeliveryLimit, for a quorum queue, dead-letters (to the queue's
	// error queue, at least once) a message redelivered more than this
	// many times; 0 sets none. Off by default: a batch held while its
	// database is down is handed back to the queue, and such redeliveries
	// must not cost the message its place (the retry budget, x-retry-count,
	// is the service's own).
	DeliveryLimit int `yaml:"delivery_limit,omitempty"`
}

// Type resolves q's RabbitMQ queue type: its own, else the topology's,
// else def.
func (t *Topology) Type(q Queue, def string) string {
	switch {
	case q.QueueType != "":
		return q.QueueType
	case t != nil && t.QueueType != "":
		return t.QueueType
	case def != "":
		return def
	}
	return QueueClassic
}

// ErrorQueue is the name of the queue that holds q's dead letters.
func (q Queue) ErrorQueue() string { return q.Name + ".error" }

// Exchange returns the named exchange.
func (t *Topology) Exchange(name string) (Exchange, bool) {
	for _, e := range t.Exchanges {
		if e.Name == name {
			return e, true
		}
	}
	return Exchange{}, false
}

// Queue returns the named queue.
func (t *Topology) Queue(name string) (Queue, bool) {
	for _, q := range t.Queues {
		if q.Name == name {
			return q, true
		}
	}
	return Queue{}, false
}

// Routes reports the queues that a message published to exchange with
// routingKey reaches. An empty result means the message is unroutable.
func (t *Topology) Routes(exchange, routingKey string) []string {
	ex, ok := t.Exchange(exchange)
	if !ok {
		return nil
	}
	var out []string
	for _, q := range t.Queues {
		for _, b := range q.Bindings {
			if b.Exchange == exchange && Match(ex.Kind, b.Key, routingKey) {
				out = append(out, q.Name)
				break
			}
		}
	}
	if exchange == t.ErrorExchange {
		for _, q := range t.Queues {
			if q.Name == routingKey {
				out = append(out, q.ErrorQueue())
			}
		}
	}
	return out
}

// Match reports whether a binding key matches a routing key for an exchange
// of the given kind.
func Match(kind, bindingKey, routingKey string) bool {
	switch kind {
	case KindFanout:
		return true
	case KindDirect:
		return bindingKey == routingKey
	}
	return matchTopic(strings.Split(bindingKey, "."), strings.Split(routingKey, "."))
}

func matchTopic(pat, words []string) bool {
	for len(pat) > 0 {
		switch pat[0] {
		case "#":
			if len(pat) == 1 {
				return true
			}
			for i := 0; i <= len(words); i++ {
				if matchTopic(pat[1:], words[i:]) {
					return true
				}
			}
			return false
		case "*":
			if len(words) == 0 {
				return false
			}
		default:
			if len(words) == 0 || words[0] != pat[0] {
				return false
			}
		}
		pat, words = pat[1:], words[1:]
	}
	return len(words) == 0
}

//go:embed default.yaml
var defaultYAML []byte

// Default returns the built-in topology, which reproduces the seed system.
func Default() *Topology {
	t, err := Parse(defaultYAML)
	if err != nil {
		panic("topology: built-in default is invalid: " + err.Error())
	}
	return t
}

// Load reads a topology from a YAML file.
func Load(path string) (*Topology, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	t, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("topology %s: %w", path, err)
	}
	return t, nil
}

// Parse decodes YAML, fills defaults and validates. Unknown keys are errors,
// so a misspelt setting is not silently ignored.
func Parse(b []byte) (*Topology, error) {
	var t Topology
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil {
		return nil, err
	}
	t = t.withDefaults()
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return &t, nil
}

// Defaults for queue settings left out of a declaration.
const (
	DefaultConsumers   = 1
	DefaultPrefetch    = 2000
	DefaultMaxMessages = 500
	DefaultMaxBytes    = 4 << 20
	DefaultMaxWait     = 200 * time.Millisecond
	DefaultMaxRetries  = 2
)

func (t Topology) withDefaults() Topology {
	t.Queues = slices.Clone(t.Queues) // the copy's own queues: the caller's are not changed
	if t.ErrorExchange == "" {
		t.ErrorExchange = "grpc_event_error.dx"
	}
	for i := range t.Queues {
		q := &t.Queues[i]
		if q.Consumers == 0 {
			q.Consumers = DefaultConsumers
		}
		if q.Batch.MaxMessages == 0 {
			q.Batch.MaxMessages = DefaultMaxMessages
		}
		if q.Batch.MaxBytes == 0 {
			q.Batch.MaxBytes = DefaultMaxBytes
		}
		if q.Batch.MaxWait == 0 {
			q.Batch.MaxWait = DefaultMaxWait
		}
		if q.Prefetch == 0 {
			q.Prefetch = max(DefaultPrefetch, 2*q.Batch.MaxMessages)
		}
		if q.MaxRetries == 0 {
			q.MaxRetries = DefaultMaxRetries
		}
	}
	return t
}

// WithBatchDefaults returns q with the consumer and batch settings a
// hand-built Queue leaves zero (or negative) set as Parse sets them:
// consumers, batch size, bytes and wait, and prefetch.
func (q Queue) WithBatchDefaults() Queue {
	if q.Consumers <= 0 {
		q.Consumers = DefaultConsumers
	}
	if q.Batch.MaxMessages <= 0 {
		q.Batch.MaxMessages = DefaultMaxMessages
	}
	if q.Batch.MaxBytes <= 0 {
		q.Batch.MaxBytes = DefaultMaxBytes
	}
	if q.Batch.MaxWait <= 0 {
		q.Batch.MaxWait = DefaultMaxWait
	}
	if q.Prefetch <= 0 {
		q.Prefetch = max(DefaultPrefetch, 2*q.Batch.MaxMessages)
	}
	return q
}

// Validate reports every problem of the declaration at once, each naming
// its YAML path.
func (t *Topology) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	exchanges := map[string]bool{}
	for i, e := range t.Exchanges {
		switch {
		case e.Name == "":
			bad("exchanges[%d].name: empty", i)
		case exchanges[e.Name]:
			bad("exchanges[%d].name: %q declared twice", i, e.Name)
		}
		exchanges[e.Name] = true
		switch e.Kind {
		case KindTopic, KindDirect, KindFanout:
		default:
			bad("exchanges[%d].kind: %q is not topic, direct or fanout", i, e.Kind)
		}
	}
	if !exchanges[t.ErrorExchange] {
		bad("error_exchange: %q is not a declared exchange", t.ErrorExchange)
	} else if ex, _ := t.Exchange(t.ErrorExchange); ex.Kind != KindDirect {
		bad("error_exchange: %q must be a direct exchange", t.ErrorExchange)
	}
	validType := func(path, v string) {
		switch v {
		case "", QueueClassic, QueueQuorum:
		default:
			bad("%s: %q is not classic or quorum", path, v)
		}
	}
	validType("queue_type", t.QueueType)
	queues := map[string]bool{}
	for i, q := range t.Queues {
		p := fmt.Sprintf("queues[%d]", i)
		validType(p+" ("+q.Name+").queue_type", q.QueueType)
		if q.DeliveryLimit < 0 {
			bad("%s (%s).delivery_limit: negative", p, q.Name)
		}
		switch {
		case q.Name == "":
			bad("%s.name: empty", p)
		case queues[q.Name] || queues[q.ErrorQueue()]:
			bad("%s.name: %q declared twice", p, q.Name)
		}
		queues[q.Name] = true
		if len(q.Bindings) == 0 {
			bad("%s (%s).bindings: a queue needs at least one binding", p, q.Name)
		}
		for j, b := range q.Bindings {
			if !exchanges[b.Exchange] {
				bad("%s (%s).bindings[%d].exchange: %q is not declared", p, q.Name, j, b.Exchange)
			}
			if b.Key == "" {
				bad("%s (%s).bindings[%d].key: empty", p, q.Name, j)
			}
			if strings.Contains(b.Key, "#") && b.Key != "#" && !strings.HasSuffix(b.Key, ".#") {
				bad("%s (%s).bindings[%d].key: %q: '#' may only stand last", p, q.Name, j, b.Key)
			}
		}
		if q.Consumers < 0 || q.Consumers > 256 {
			bad("%s (%s).consumers: %d is outside 1..256", p, q.Name, q.Consumers)
		}
		if q.Prefetch < q.Batch.MaxMessages {
			bad("%s (%s).prefetch: %d is below batch.max_messages %d, so a batch could never fill", p, q.Name, q.Prefetch, q.Batch.MaxMessages)
		}
		if q.Batch.MaxMessages < 0 || q.Batch.MaxBytes < 0 || q.Batch.MaxWait < 0 {
			bad("%s (%s).batch: limits must not be negative", p, q.Name)
		}
		if q.MaxBytes < 0 {
			bad("%s (%s).max_bytes: negative", p, q.Name)
		}
		if q.MaxRetries < 0 {
			bad("%s (%s).max_retries: negative", p, q.Name)
		}
		switch q.Handler {
		case HandlerEvents, HandlerJSON:
			if len(q.Tables) == 0 {
				bad("%s (%s).tables: handler %q needs at least one table", p, q.Name, q.Handler)
			}
		case HandlerWebEngage:
		default:
			bad("%s (%s).handler: %q is not one of events, json, webengage", p, q.Name, q.Handler)
		}
	}
	return errors.Join(errs...)
}

// YAML renders the topology, defaults filled in.
func (t *Topology) YAML() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(t); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}
