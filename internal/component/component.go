package component

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Component is a long-lived part of the service.
type Component interface {
	// Start begins the part's work and returns quickly: work that lasts
	// (connecting, serving, sampling) runs in the background on the
	// part's own context, not on ctx, which only bounds Start itself. An
	// error means the part cannot run (bad configuration, a port taken);
	// a server that is down is not one: the part starts not ready and
	// connects when the server returns.
	Start(ctx context.Context) error
	// Shutdown stops the part: it stops taking work, finishes or hands
	// back what it holds and releases its connections, within ctx. It is
	// safe before Start, safe to call twice and from several goroutines;
	// when ctx ends first it returns an error wrapping ctx.Err(), and a
	// later call waits again for what is still stopping.
	Shutdown(ctx context.Context) error
}

// Readier is the optional capability of a part whose readiness the
// service's depends on (/ready fails while it is not ready).
type Readier interface {
	// Ready returns nil when the part is usable now, else why not. It is
	// cheap, does no I/O, and is safe for concurrent use.
	Ready() error
}

// Funcs makes a Component of plain functions, for a part whose own API must stay as it is. A nil function
// does nothing. The functions themselves must keep the contract (Shutdown
// idempotent and safe before Start); Funcs adds nothing to them.
type Funcs struct {
	StartFunc    func(ctx context.Context) error
	ShutdownFunc func(ctx context.Context) error
}

// Start implements Component.
func (f Funcs) Start(ctx context.Context) error {
	if f.StartFunc == nil {
		return nil
	}
	return f.StartFunc(ctx)
}

// Shutdown implements Component.
func (f Funcs) Shutdown(ctx context.Context) error {
	if f.ShutdownFunc == nil {
		return nil
	}
	return f.ShutdownFunc(ctx)
}

// WithReady is c with the Readier capability ready.
func WithReady(c Component, ready func() error) Component { return withReady{c, ready} }

type withReady struct {
	Component
	ready func() error
}

func (w withReady) Ready() error { return w.ready() }

// Once makes Shutdown of c run once: later calls wait for the first one,
// within their own ctx, and return its result. For parts whose Shutdown
// is not safe twice.
func Once(c Component) Component { return &once{c: c, done: make(chan struct{})} }

type once struct {
	c    Component
	o    sync.Once
	done chan struct{}
	err  error
}

func (o *once) Start(ctx context.Context) error { return o.c.Start(ctx) }

func (o *once) Shutdown(ctx context.Context) error {
	o.o.Do(func() {
		go func() {
			o.err = o.c.Shutdown(ctx)
			close(o.done)
		}()
	})
	select {
	case <-o.done:
		return o.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (o *once) Ready() error {
	if r, ok := o.c.(Readier); ok {
		return r.Ready()
	}
	return nil
}

// Group is an ordered list of named parts: Start starts them in order,
// Shutdown stops them in reverse. Safe for concurrent use once built.
type Group struct {
	mu    sync.Mutex
	parts []named
}

type named struct {
	name string
	c    Component
}

// Add appends c, named name (for errors, logs and readiness), to the end
// of the start order: it is started after every part added before it and
// stopped before them.
func (g *Group) Add(name string, c Component) {
	g.mu.Lock()
	g.parts = append(g.parts, named{name, c})
	g.mu.Unlock()
}

// Names lists the parts in start order.
func (g *Group) Names() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]string, len(g.parts))
	for i, p := range g.parts {
		out[i] = p.name
	}
	return out
}

// Start starts the parts in order and stops at the first that fails,
// returning its error named; the caller then calls Shutdown, which stops
// every part (those not started included: that is safe).
func (g *Group) Start(ctx context.Context) error {
	for _, p := range g.list() {
		if err := p.c.Start(ctx); err != nil {
			return fmt.Errorf("start %s: %w", p.name, err)
		}
	}
	return nil
}

// Shutdown stops every part in reverse order, each within ctx, and
// returns their errors joined, each named. A part is asked to stop even
// when ctx has ended, so that each one releases what it can at once.
func (g *Group) Shutdown(ctx context.Context) error {
	parts := g.list()
	var errs []error
	for i := len(parts) - 1; i >= 0; i-- {
		if err := parts[i].c.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown %s: %w", parts[i].name, err))
		}
	}
	return errors.Join(errs...)
}

// Probe is a part's readiness, named.
type Probe struct {
	Name  string
	Ready func() error
}

// Probes are the readiness checks of the parts that are Readiers, in
// start order.
func (g *Group) Probes() []Probe {
	var out []Probe
	for _, p := range g.list() {
		if r, ok := p.c.(Readier); ok {
			out = append(out, Probe{Name: p.name, Ready: r.Ready})
		}
	}
	return out
}

func (g *Group) list() []named {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]named(nil), g.parts...)
}
