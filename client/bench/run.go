package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	"github.com/event-grpc/event-grpc/client"
)

// Result is the outcome of a run. Every sent event is counted once:
// Sent = Acked + Rejected + Refused + Unanswered (Unanswered is non-zero
// only when the service answered with counts that do not add up).
type Result struct {
	Target         string  `json:"target"`
	ElapsedSeconds float64 `json:"elapsed_s"`
	// Dispatches is the number of dispatch calls made; DispatchesOK of them
	// returned a Response, Errors a gRPC error.
	Dispatches   int64 `json:"dispatches"`
	DispatchesOK int64 `json:"dispatches_ok"`
	Errors       int64 `json:"errors"`
	// ByCode counts failed dispatches by gRPC code name
	// ("RESOURCE_EXHAUSTED", "UNAVAILABLE", ...).
	ByCode map[string]int64 `json:"by_code"`
	// Sent is the number of events in all dispatches, Poisoned of them made
	// invalid on purpose.
	Sent     int64 `json:"sent"`
	Poisoned int64 `json:"poisoned"`
	// Acked and Rejected sum Response.accepted and Response.rejected;
	// Refused is the events of failed dispatches.
	Acked    int64 `json:"acked"`
	Rejected int64 `json:"rejected"`
	Refused  int64 `json:"refused"`
	// Mismatched counts responses whose accepted+rejected was not their
	// batch size; Unanswered is the events such responses left out.
	Mismatched int64 `json:"mismatched"`
	Unanswered int64 `json:"unanswered"`
	// IDsWritten is the number of accepted ids appended to Config.OutPath.
	IDsWritten int64 `json:"ids_written"`
	// EventsPerSecond is Acked / ElapsedSeconds.
	EventsPerSecond float64 `json:"events_per_s"`
	// Latency of successful dispatches, in milliseconds.
	LatencyP50Ms  float64 `json:"p50_ms"`
	LatencyP90Ms  float64 `json:"p90_ms"`
	LatencyP99Ms  float64 `json:"p99_ms"`
	LatencyMaxMs  float64 `json:"max_ms"`
	LatencyMeanMs float64 `json:"mean_ms"`
}

// SummaryLine is the one-line result: accepted events per second,
// dispatch latency and failed dispatches.
func (r Result) SummaryLine() string {
	return fmt.Sprintf("events/s=%.0f p50_ms=%.2f p99_ms=%.2f errors=%d", r.EventsPerSecond, r.LatencyP50Ms, r.LatencyP99Ms, r.Errors)
}

// Breakdown is the one-line account of where every event went.
func (r Result) Breakdown() string {
	parts := make([]string, 0, len(r.ByCode))
	for c := range r.ByCode {
		parts = append(parts, c)
	}
	sort.Strings(parts)
	for i, c := range parts {
		parts[i] = fmt.Sprintf("%s:%d", c, r.ByCode[c])
	}
	return fmt.Sprintf("sent=%d acked=%d rejected=%d refused=%d dispatches=%d by_code={%s} ok=%d poisoned=%d mismatched=%d unanswered=%d elapsed_s=%.3f",
		r.Sent, r.Acked, r.Rejected, r.Refused, r.Dispatches, strings.Join(parts, ","),
		r.DispatchesOK, r.Poisoned, r.Mismatched, r.Unanswered, r.ElapsedSeconds)
}

// stats is one worker's counts; merged when all workers are done.
type stats struct {
	dispatches, ok, errs                     int64
	sent, poisoned, acked, rejected, refused int64
	mismatched, unanswered                   int64
	byCode                                   map[connect.Code]int64
	latency                                  histogram
}

// Run dispatches load at cfg.Target until cfg.Duration passes, cfg.Requests
// dispatches are done or ctx ends, and returns the counts. It returns an
// error only for an invalid cfg, a target it cannot reach at start, or a
// failure to write cfg.OutPath; failed dispatches are counted, not
// returned. When ctx ends, calls in flight are cancelled and counted as
// CANCELLED; when Duration passes, they are left to finish.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	p, err := newPool(seed, cfg.ClientID, time.Now())
	if err != nil {
		return Result{}, err
	}

	var out *idWriter
	if cfg.OutPath != "" {
		if out, err = openIDWriter(cfg.OutPath); err != nil {
			return Result{}, err
		}
	}
	conns, err := dial(ctx, cfg)
	if err != nil {
		if out != nil {
			err = errors.Join(err, out.close())
		}
		return Result{}, err
	}

	// stop ends the issuing of new dispatches (duration over, or --out
	// failed); ctx ending also cancels the calls in flight.
	stop, cancelStop := context.WithCancel(ctx)
	defer cancelStop()
	var outErr error
	var outErrOnce sync.Once
	failOut := func(err error) {
		outErrOnce.Do(func() { outErr = err })
		cancelStop()
	}

	start := time.Now()
	if cfg.Duration > 0 {
		timer := time.AfterFunc(cfg.Duration, cancelStop)
		defer timer.Stop()
	}
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) / cfg.Rate)
	}
	var tickets atomic.Int64
	var prog *progress
	if cfg.Live != nil {
		prog = &progress{}
		liveCtx, stopLive := context.WithCancel(ctx)
		liveDone := make(chan struct{})
		go func() { prog.show(liveCtx, cfg.Live, start); close(liveDone) }()
		defer func() { stopLive(); <-liveDone }()
	}
	workers := make([]*stats, cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		st := &stats{byCode: map[connect.Code]int64{}}
		workers[i] = st
		w := &worker{
			cfg:      &cfg,
			sender:   conns[i%len(conns)],
			b:        newBuilder(p, rand.New(rand.NewPCG(seed, uint64(i)+1)), cfg.Batch, cfg.Poison, cfg.EmptyIDs),
			st:       st,
			out:      out,
			failOut:  failOut,
			tickets:  &tickets,
			start:    start,
			interval: interval,
			prog:     prog,
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.loop(stop, ctx)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	var errs []error
	for _, s := range conns {
		s.Close()
	}
	res := merge(cfg.Target, elapsed, workers)
	if out != nil {
		res.IDsWritten = out.written()
		if err := out.close(); err != nil {
			errs = append(errs, err)
		}
	}
	if outErr != nil {
		errs = append(errs, outErr)
	}
	return res, errors.Join(errs...)
}

func merge(target string, elapsed time.Duration, workers []*stats) Result {
	var lat histogram
	res := Result{Target: target, ElapsedSeconds: elapsed.Seconds(), ByCode: map[string]int64{}}
	for _, w := range workers {
		res.Dispatches += w.dispatches
		res.DispatchesOK += w.ok
		res.Errors += w.errs
		res.Sent += w.sent
		res.Poisoned += w.poisoned
		res.Acked += w.acked
		res.Rejected += w.rejected
		res.Refused += w.refused
		res.Mismatched += w.mismatched
		res.Unanswered += w.unanswered
		for c, n := range w.byCode {
			res.ByCode[codeName(c)] += n
		}
		lat.merge(&w.latency)
	}
	if elapsed > 0 {
		res.EventsPerSecond = float64(res.Acked) / elapsed.Seconds()
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	res.LatencyP50Ms = ms(lat.quantile(0.50))
	res.LatencyP90Ms = ms(lat.quantile(0.90))
	res.LatencyP99Ms = ms(lat.quantile(0.99))
	res.LatencyMaxMs = ms(time.Duration(lat.max))
	res.LatencyMeanMs = ms(lat.mean())
	return res
}

// codeName is the canonical upper-case name of a gRPC code
// ("RESOURCE_EXHAUSTED"); connect.Code.String gives "resource_exhausted".
func codeName(c connect.Code) string {
	switch c {
	case 0:
		return "OK"
	case connect.CodeCanceled:
		return "CANCELLED" // the spelling of the gRPC spec
	}
	return strings.ToUpper(c.String())
}

type worker struct {
	cfg      *Config
	sender   *client.Sender
	b        *builder
	st       *stats
	out      *idWriter
	failOut  func(error)
	tickets  *atomic.Int64
	start    time.Time
	interval time.Duration
	prog     *progress
}

// loop dispatches until stop ends or the tickets (Requests) run out. Each
// dispatch takes a ticket first, so exactly Requests dispatches are made
// across all workers; with a rate, ticket n is not sent before
// start + (n-1)*interval.
func (w *worker) loop(stop context.Context, callCtx context.Context) {
	var pace *time.Timer
	defer func() {
		if pace != nil {
			pace.Stop()
		}
	}()
	for stop.Err() == nil {
		n := w.tickets.Add(1)
		if w.cfg.Requests > 0 && n > w.cfg.Requests {
			return
		}
		if w.interval > 0 {
			if wait := time.Until(w.start.Add(time.Duration(n-1) * w.interval)); wait > 0 {
				if pace == nil {
					pace = time.NewTimer(wait)
				} else {
					pace.Reset(wait)
				}
				select {
				case <-stop.Done():
					return
				case <-pace.C:
				}
			}
		}
		w.dispatch(callCtx)
	}
}

func (w *worker) dispatch(parent context.Context) {
	req := w.b.build(time.Now())
	n := int64(len(req.Events))
	ctx, cancel := context.WithTimeout(parent, w.cfg.CallTimeout)
	t0 := time.Now()
	resp, err := w.sender.Send(ctx, req)
	lat := time.Since(t0)
	cancel()

	st := w.st
	st.dispatches++
	st.sent += n
	st.poisoned += int64(w.b.poisoned)
	if err != nil {
		st.errs++
		st.refused += n
		st.byCode[connect.CodeOf(err)]++
		w.prog.add(n, 0, true)
		return
	}
	st.ok++
	st.latency.record(lat)
	acc, rej := int64(resp.GetAccepted()), int64(resp.GetRejected())
	if acc+rej != n || acc < 0 || rej < 0 {
		st.mismatched++
		acc, rej = max(acc, 0), max(rej, 0)
		acc = min(acc, n)
		rej = min(rej, n-acc)
		st.unanswered += n - acc - rej
	}
	st.acked += acc
	st.rejected += rej
	w.prog.add(n, acc, false)
	if w.out != nil && acc > 0 {
		if err := w.out.writeAccepted(req, resp); err != nil {
			w.failOut(err)
		}
	}
}

// dial makes cfg.Conns senders, each with its own HTTP/2 connection, and
// waits, within cfg.DialTimeout, until the service answered on every one.
func dial(ctx context.Context, cfg Config) ([]*client.Sender, error) {
	url, err := targetURL(cfg.Target)
	if err != nil {
		return nil, err
	}
	var header http.Header
	if len(cfg.Metadata) > 0 {
		header = http.Header{}
		for k, v := range cfg.Metadata {
			k = strings.ToLower(k)
			if strings.HasSuffix(k, "-bin") { // binary metadata goes base64-encoded, as gRPC sends it
				v = connect.EncodeBinaryHeader([]byte(v))
			}
			header[k] = append(header[k], v)
		}
	}
	senders := make([]*client.Sender, 0, cfg.Conns)
	closeAll := func() {
		for _, s := range senders {
			s.Close()
		}
	}
	for range cfg.Conns {
		s, err := client.NewSender(client.Config{URL: url, Protocol: client.ProtocolGRPC, RequestHeader: header})
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("bench: target %q: %w", cfg.Target, err)
		}
		senders = append(senders, s)
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	retry := time.NewTimer(0)
	defer retry.Stop()
	for _, s := range senders {
		for {
			err := s.Ping(dctx)
			if err == nil {
				break
			}
			retry.Reset(dialRetry)
			select {
			case <-retry.C:
				continue
			case <-dctx.Done():
			}
			closeAll()
			msg := fmt.Sprintf("bench: cannot reach target %s within %v", cfg.Target, cfg.DialTimeout)
			if cause := probe(cfg.Target, cfg.DialTimeout); cause != "" {
				msg += ": " + cause
			} else {
				msg += ": " + err.Error()
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%s: %w", msg, ctx.Err())
			}
			return nil, errors.New(msg + "; is event-grpc running and listening there?")
		}
	}
	return senders, nil
}

// dialRetry is the wait between two attempts to reach the target at start.
const dialRetry = 100 * time.Millisecond

// targetURL is the http:// URL of a gRPC target: host:port, or
// dns:///host:port or passthrough:///host:port as grpc-go spells them, or
// an http:// or https:// URL as it is.
func targetURL(target string) (string, error) {
	t := strings.TrimSpace(target)
	if strings.HasPrefix(t, "http://") || strings.HasPrefix(t, "https://") {
		return t, nil
	}
	for _, scheme := range []string{"dns:///", "passthrough:///"} {
		t = strings.TrimPrefix(t, scheme)
	}
	if _, _, err := net.SplitHostPort(t); err != nil || strings.Contains(t, "/") {
		return "", fmt.Errorf("bench: --target %q is not host:port, dns:///host:port or an http:// URL", target)
	}
	return "http://" + t, nil
}

// probe explains why a plain host:port target is unreachable, from a TCP
// dial; empty when the target is not host:port.
func probe(target string, timeout time.Duration) string {
	hostport := strings.TrimSpace(target)
	for _, scheme := range []string{"dns:///", "passthrough:///", "http://", "https://"} {
		hostport = strings.TrimPrefix(hostport, scheme)
	}
	hostport = strings.TrimSuffix(hostport, "/")
	if strings.Contains(hostport, "/") {
		return ""
	}
	c, err := net.DialTimeout("tcp", hostport, min(timeout, time.Second))
	if err != nil {
		return err.Error()
	}
	_ = c.Close() // a probe connection; nothing was sent on it
	return "TCP connects, but no gRPC (HTTP/2) connection came up"
}
