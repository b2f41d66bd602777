package jetstream_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/broker/jetstream"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// sysCachestat is cachestat(2) (Linux 6.5+, x86_64 and arm64 alike):
// page cache statistics of a file range, dirty and writeback pages
// included, for any caller.
const sysCachestat = 451

type cachestatRange struct{ off, len uint64 }

type cachestat struct {
	cache, dirty, writeback, evicted, recentlyEvicted uint64
}

// unsynced counts the pages of the store's message block files under dir
// that the kernel holds dirty (written, not yet on disk) or still being
// written back, with cachestat(2). No timing: what an fsync leaves is clean
// pages.
func unsynced(t *testing.T, dir string) (pages, dirty int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".blk") {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		var cs cachestat
		rng := cachestatRange{0, 0} // len 0: to the end of the file
		if _, _, e := syscall.Syscall6(sysCachestat, f.Fd(), uintptr(unsafe.Pointer(&rng)), uintptr(unsafe.Pointer(&cs)), 0, 0, 0); e != 0 {
			return fmt.Errorf("cachestat %s: %w", path, e)
		}
		pages += int(cs.cache)
		dirty += int(cs.dirty + cs.writeback)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pages, dirty
}

// An acknowledged publish is on disk: by default the embedded server
// fsyncs before it acks (no page of the store is left dirty when Publish
// returns); in the interval mode the same publish leaves dirty pages, which
// shows the check sees what it claims to.
func TestPublishIsFsyncedBeforeItIsAcknowledged(t *testing.T) {
	top := topology.Default()
	body := []byte(strings.Repeat("event ", 40_000)) // 240 KB: many pages
	for _, tc := range []struct {
		name      string
		sync      time.Duration
		wantDirty bool
	}{
		{"always (default)", 0, false},
		{"interval 1h", time.Hour, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			b := newBroker(t, jetstream.Config{DataDir: dir, Topology: top, SyncInterval: tc.sync})
			defer b.Close(context.Background())
			for i := range 3 {
				msg := broker.Message{ID: "m" + string(rune('0'+i)), RoutingKey: "LaunchEvent", Body: body}
				if err := b.Publish(context.Background(), "grpc_event.tx", []broker.Message{msg}); err != nil {
					t.Fatal(err)
				}
				pages, dirty := unsynced(t, dir)
				if pages < 50 {
					t.Fatalf("found %d pages of message blocks in %s", pages, dir)
				}
				if got := dirty > 0; got != tc.wantDirty {
					t.Fatalf("after publish #%d: %d of %d store pages not on disk; want dirty=%v", i, dirty, pages, tc.wantDirty)
				}
			}
		})
	}
}
