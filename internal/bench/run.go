package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
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
	byCode                                   map[codes.Code]int64
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

	callCtx := ctx
	if len(cfg.Metadata) > 0 {
		md := metadata.MD{}
		for k, v := range cfg.Metadata {
			md.Append(strings.ToLower(k), v)
		}
		callCtx = metadata.NewOutgoingContext(ctx, md)
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
		st := &stats{byCode: map[codes.Code]int64{}}
		workers[i] = st
		w := &worker{
			cfg:      &cfg,
			client:   eventgrpcv1.NewEventServiceClient(conns[i%len(conns)]),
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
			w.loop(stop, callCtx)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	var errs []error
	for _, cc := range conns {
		if err := cc.Close(); err != nil {
			errs = append(errs, fmt.Errorf("bench: close connection to %s: %w", cfg.Target, err))
		}
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
// ("RESOURCE_EXHAUSTED"); codes.Code.String gives "ResourceExhausted".
func codeName(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	switch c {
	case codes.OK:
		return "OK"
	case codes.Canceled:
		return "CANCELLED" // the spelling of the gRPC spec
	}
	return strings.ToUpper(b.String())
}

type worker struct {
	cfg      *Config
	client   eventgrpcv1.EventServiceClient
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
	resp, err := w.client.Dispatch(ctx, req)
	lat := time.Since(t0)
	cancel()

	st := w.st
	st.dispatches++
	st.sent += n
	st.poisoned += int64(w.b.poisoned)
	if err != nil {
		st.errs++
		st.refused += n
		st.byCode[status.Code(err)]++
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

// dial opens cfg.Conns client connections and waits, within
// cfg.DialTimeout, until every one is ready.
func dial(ctx context.Context, cfg Config) ([]*grpc.ClientConn, error) {
	conns := make([]*grpc.ClientConn, 0, cfg.Conns)
	closeAll := func() {
		for _, cc := range conns {
			_ = cc.Close() // the dial already failed; that error is the one to report
		}
	}
	for i := 0; i < cfg.Conns; i++ {
		cc, err := grpc.NewClient(cfg.Target, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("bench: target %q: %w", cfg.Target, err)
		}
		conns = append(conns, cc)
		cc.Connect()
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	for _, cc := range conns {
		for s := cc.GetState(); s != connectivity.Ready; s = cc.GetState() {
			if !cc.WaitForStateChange(dctx, s) {
				closeAll()
				msg := fmt.Sprintf("bench: cannot reach target %s within %v (connection %s)", cfg.Target, cfg.DialTimeout, s)
				if cause := probe(cfg.Target, cfg.DialTimeout); cause != "" {
					msg += ": " + cause
				}
				if ctx.Err() != nil {
					return nil, fmt.Errorf("%s: %w", msg, ctx.Err())
				}
				return nil, errors.New(msg + "; is event-grpc running and listening there?")
			}
		}
	}
	return conns, nil
}

// probe explains why a plain host:port target is unreachable, from a TCP
// dial; empty when the target is not host:port.
func probe(target string, timeout time.Duration) string {
	hostport := strings.TrimPrefix(strings.TrimPrefix(target, "dns:///"), "passthrough:///")
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
