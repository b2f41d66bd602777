package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/protobuf/proto"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
)

const stateName = "state.json"

// savedState is what StateDir keeps besides the journal.
type savedState struct {
	AnonymousID string `json:"anonymousId"`
	UserID      string `json:"userId,omitempty"`
	OptedOut    bool   `json:"optedOut,omitempty"`
}

// openState creates StateDir, reads the identity and opt-out kept there,
// and reloads the journal into the queue; kept says whether a state was
// there.
func (c *Client) openState() (kept bool, err error) {
	dir := c.cfg.StateDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("event-grpc client: StateDir: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, stateName))
	switch {
	case err == nil:
		var st savedState
		if err := json.Unmarshal(b, &st); err != nil {
			return false, fmt.Errorf("event-grpc client: StateDir: %s is not the client's state: %w", filepath.Join(dir, stateName), err)
		}
		kept = true
		if st.AnonymousID != "" {
			c.anonID = st.AnonymousID
		}
		c.userID, c.optedOut = st.UserID, st.OptedOut
	case errors.Is(err, os.ErrNotExist):
	default:
		return false, fmt.Errorf("event-grpc client: StateDir: %w", err)
	}
	segBytes := min(max(c.cfg.MaxQueueBytes/16, 64<<10), 4<<20)
	var dropped int
	var why error
	j, err := openJournal(dir, segBytes, c.cfg.MaxBatchBytes, func(payload []byte) uint64 {
		ev := new(eventgrpcv1.Event)
		if err := proto.Unmarshal(payload, ev); err != nil {
			dropped, why = dropped+1, fmt.Errorf("not an event in StateDir: %w", err)
			return 0
		}
		switch {
		case c.optedOut:
			dropped, why = dropped+1, errors.New("opted out")
			return 0
		case len(c.queue) >= c.cfg.MaxQueueEvents || c.qbytes+int64(len(payload)) > c.cfg.MaxQueueBytes:
			dropped, why = dropped+1, ErrQueueFull
			return 0
		}
		c.seq++
		c.queue = append(c.queue, item{ev: ev, size: len(payload), seq: c.seq})
		c.qbytes += int64(len(payload))
		c.stats.Tracked++
		c.stats.Loaded++
		return c.seq
	})
	if err != nil {
		return false, err
	}
	c.journal = j
	c.state = &stateFile{path: filepath.Join(dir, stateName)}
	if c.stats.Loaded > 0 {
		c.info("events reloaded from StateDir", "events", c.stats.Loaded, "dir", dir)
	}
	if dropped > 0 {
		c.drop(dropped, fmt.Errorf("reloading StateDir: %w", why))
	}
	return kept, nil
}

// stateFile serialises the writes of state.json.
type stateFile struct {
	path string
}

// saveState writes the identity and opt-out to StateDir (atomically: a
// temporary file renamed over the old one), when there is one. A failure
// is counted in Stats().StateErrors and logged.
func (c *Client) saveState() {
	if c.state == nil {
		return
	}
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	c.mu.Lock()
	st := savedState{AnonymousID: c.anonID, UserID: c.userID, OptedOut: c.optedOut}
	closed := c.closed
	c.mu.Unlock()
	if closed { // the directory may be another Client's by now
		c.warn("closed: the identity and opt-out were changed in memory only, not in StateDir")
		return
	}
	if err := writeFileSync(c.state.path, st); err != nil {
		c.stateError("could not save the identity and opt-out to StateDir", err)
	}
}

func writeFileSync(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	return err
}

// persist writes the event queued as seq to the journal; called under mu,
// so the journal's order is the queue's. On failure the event stays queued
// in memory only: counted in Stats().StateErrors and logged.
func (c *Client) persist(ev *eventgrpcv1.Event, seq uint64) {
	b, err := proto.Marshal(ev)
	if err == nil {
		err = c.journal.append(seq, b)
	}
	if err != nil {
		c.stats.StateErrors++
		if c.log != nil {
			c.log.Error("event-grpc client: could not write an event to StateDir; it is queued in memory only", "error", err)
		}
	}
}

// release removes from the journal what holds only events settled up to
// seq (delivered, rejected or dropped: not those Close saves).
func (c *Client) release(seq uint64) {
	if c.journal == nil {
		return
	}
	if err := c.journal.release(seq); err != nil {
		c.stateError("could not remove settled events from StateDir (they may be sent again after a restart, and stored once)", err)
	}
}

// syncEvery fsyncs the journal every d until the sender stops.
func (c *Client) syncEvery(d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			c.syncJournal()
		}
	}
}

func (c *Client) syncJournal() {
	if c.journal == nil {
		return
	}
	if err := c.journal.sync(); err != nil {
		c.stateError("could not fsync StateDir", err)
	}
}

func (c *Client) stateError(msg string, err error) {
	c.count(func(s *Stats) { s.StateErrors++ })
	if c.log != nil {
		c.log.Error("event-grpc client: "+msg, "error", err)
	}
}

func (c *Client) debug(msg string, args ...any) {
	if c.log != nil {
		c.log.Log(context.Background(), slog.LevelDebug, "event-grpc client: "+msg, args...)
	}
}

func (c *Client) info(msg string, args ...any) {
	if c.log != nil {
		c.log.Info("event-grpc client: "+msg, args...)
	}
}

func (c *Client) warn(msg string, args ...any) {
	if c.log != nil {
		c.log.Warn("event-grpc client: "+msg, args...)
	}
}
