package brokertest

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/event-grpc/event-grpc/internal/broker"
)

// Flood publishes without pause while a test breaks the server under it
// (the cluster tests kill the node leading a queue). It records which
// bodies the broker accepted: all of a call's messages when it succeeds,
// and those a PublishError does not fail when it fails in part.
type Flood struct {
	stop, done chan struct{}

	mu     sync.Mutex
	res    FloodResult
	lastOK time.Time
}

// FloodResult is what a Flood saw.
type FloodResult struct {
	// Acked holds the bodies of the messages the broker accepted.
	Acked map[string]bool
	// Calls counts the Publish calls, Failures those that returned an error.
	Calls, Failures int
	// Outage is the longest time between two accepted calls.
	Outage time.Duration
}

// StartFlood calls b.Publish(exchange, batch(i)) for i = 0, 1, ... until
// Stop, each call bounded by callTimeout; after a failed call it pauses
// for pauseAfterError (zero: no pause). The bodies of batch's messages
// must be distinct.
func StartFlood(b broker.Broker, exchange string, batch func(i int) []broker.Message, callTimeout, pauseAfterError time.Duration) *Flood {
	f := &Flood{stop: make(chan struct{}), done: make(chan struct{}), res: FloodResult{Acked: map[string]bool{}}, lastOK: time.Now()}
	go func() {
		defer close(f.done)
		for i := 0; ; i++ {
			select {
			case <-f.stop:
				return
			default:
			}
			msgs := batch(i)
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			err := b.Publish(ctx, exchange, msgs)
			cancel()
			f.record(msgs, err)
			if err != nil && pauseAfterError > 0 {
				time.Sleep(pauseAfterError)
			}
		}
	}()
	return f
}

func (f *Flood) record(msgs []broker.Message, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.res.Calls++
	if err == nil {
		for _, m := range msgs {
			f.res.Acked[string(m.Body)] = true
		}
		f.res.Outage = max(f.res.Outage, time.Since(f.lastOK))
		f.lastOK = time.Now()
		return
	}
	f.res.Failures++
	var pe *broker.PublishError
	if errors.As(err, &pe) {
		for k, m := range msgs {
			if pe.Failed[k] == nil {
				f.res.Acked[string(m.Body)] = true
			}
		}
	}
}

// Stop stops publishing, waits for the call under way and returns what
// the Flood saw.
func (f *Flood) Stop() FloodResult {
	close(f.stop)
	<-f.done
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.res
}

// Compare counts the accepted bodies missing from stored (each stored
// body with the number of times it is stored) and the extra copies stored.
func (r FloodResult) Compare(stored map[string]int) (lost, duplicates int) {
	for body := range r.Acked {
		if stored[body] == 0 {
			lost++
		}
	}
	for _, n := range stored {
		duplicates += max(0, n-1)
	}
	return lost, duplicates
}
