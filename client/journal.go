package client

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// The journal keeps the queued events in StateDir so that a Client started
// on the same directory sends what an earlier one had not settled.
//
// It is a set of append-only segment files, seg-<n>.log, oldest first.
// Each record is a 4-byte big-endian length, the CRC-32C of the payload,
// and the payload: the event's protobuf encoding. Events are written in the
// order they are queued, and settled (delivered, rejected or dropped) in
// that order too, so a segment whose last event is settled is removed
// whole; the active segment is emptied in place once everything in it is
// settled, and a new one started when it grows past segBytes. The files
// therefore hold the queue (bounded by MaxQueueEvents and MaxQueueBytes),
// the batch in flight and at most two segments' worth of settled events.
//
// Writes go to the operating system at once (a crash of the program loses
// nothing written); they are fsynced every FlushInterval, at Flush and
// Close, and when a segment is rotated (a power cut loses at most the last
// interval's events). A torn or corrupt record at a segment's end, as a
// power cut may leave, ends that segment's reload.

const (
	journalPrefix = "seg-"
	journalSuffix = ".log"
	recordHeader  = 8
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type journal struct {
	dir       string
	segBytes  int64
	maxRecord int

	mu    sync.Mutex
	segs  []*segment // oldest first; the last is the active one
	next  uint64     // number of the next segment file
	dirty bool       // written since the last sync
	lock  *os.File
}

type segment struct {
	path string
	f    *os.File // the active segment only
	size int64
	last uint64 // highest seq written in it; 0: none
}

// openJournal locks dir, reloads its segments, handing each event to add
// (which returns the seq it queued the event as, or 0 when it dropped it),
// and starts a new active segment.
func openJournal(dir string, segBytes int64, maxRecord int, add func(payload []byte) uint64) (*journal, error) {
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	j := &journal{dir: dir, segBytes: segBytes, maxRecord: maxRecord, lock: lock}
	names, err := filepath.Glob(filepath.Join(dir, journalPrefix+"*"+journalSuffix))
	if err != nil {
		j.unlock()
		return nil, err
	}
	sort.Strings(names) // zero-padded numbers sort in order
	for _, name := range names {
		var n uint64
		if _, err := fmt.Sscanf(strings.TrimSuffix(filepath.Base(name), journalSuffix), journalPrefix+"%d", &n); err != nil {
			continue // not ours
		}
		j.next = max(j.next, n+1)
		seg := &segment{path: name}
		if err := j.reload(seg, add); err != nil {
			j.unlock()
			return nil, err
		}
		if seg.last == 0 {
			if err := os.Remove(name); err != nil {
				j.unlock()
				return nil, fmt.Errorf("event-grpc client: StateDir: %w", err)
			}
			continue
		}
		j.segs = append(j.segs, seg)
	}
	if err := j.startSegment(); err != nil {
		j.unlock()
		return nil, err
	}
	return j, nil
}

// reload reads seg's records up to the first torn or corrupt one.
func (j *journal) reload(seg *segment, add func([]byte) uint64) error {
	b, err := os.ReadFile(seg.path)
	if err != nil {
		return fmt.Errorf("event-grpc client: StateDir: %w", err)
	}
	seg.size = int64(len(b))
	for len(b) >= recordHeader {
		n := binary.BigEndian.Uint32(b)
		if n == 0 || int64(n) > int64(j.maxRecord) || int64(n) > int64(len(b)-recordHeader) {
			break
		}
		payload := b[recordHeader : recordHeader+int(n)]
		if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(b[4:]) {
			break
		}
		if seq := add(payload); seq > 0 {
			seg.last = seq
		}
		b = b[recordHeader+int(n):]
	}
	return nil
}

func (j *journal) startSegment() error {
	path := filepath.Join(j.dir, fmt.Sprintf("%s%020d%s", journalPrefix, j.next, journalSuffix))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("event-grpc client: StateDir: %w", err)
	}
	j.next++
	j.segs = append(j.segs, &segment{path: path, f: f})
	return syncDir(j.dir)
}

// append writes the record of the event queued as seq.
func (j *journal) append(seq uint64, payload []byte) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	active := j.segs[len(j.segs)-1]
	rec := int64(recordHeader + len(payload))
	if active.size > 0 && active.size+rec > j.segBytes {
		if err := active.f.Sync(); err != nil {
			return err
		}
		if err := active.f.Close(); err != nil {
			return err
		}
		active.f = nil
		if err := j.startSegment(); err != nil {
			return err
		}
		active = j.segs[len(j.segs)-1]
	}
	buf := make([]byte, rec)
	binary.BigEndian.PutUint32(buf, uint32(len(payload)))
	binary.BigEndian.PutUint32(buf[4:], crc32.Checksum(payload, castagnoli))
	copy(buf[recordHeader:], payload)
	n, err := active.f.Write(buf)
	active.size += int64(n)
	if err != nil {
		// A partial record is a torn tail to the reload; start afresh so
		// nothing written later lands behind it.
		if active.size > 0 && int64(n) < rec {
			active.size = j.segBytes // rotate at the next append
		}
		return err
	}
	active.last = seq
	j.dirty = true
	return nil
}

// release removes what holds only events settled up to seq.
func (j *journal) release(seq uint64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	var errs []error
	keep := j.segs[:0]
	for i, seg := range j.segs {
		active := i == len(j.segs)-1
		switch {
		case seg.last > seq || (active && seg.size == 0):
			keep = append(keep, seg)
		case active:
			if err := seg.f.Truncate(0); err != nil {
				errs = append(errs, err)
			} else if _, err := seg.f.Seek(0, io.SeekStart); err != nil {
				errs = append(errs, err)
			} else {
				seg.size, seg.last = 0, 0
			}
			keep = append(keep, seg)
		default:
			if err := os.Remove(seg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
				keep = append(keep, seg)
			}
		}
	}
	clear(j.segs[len(keep):])
	j.segs = keep
	return errors.Join(errs...)
}

// sync fsyncs the active segment when it was written to since the last
// sync. The fsync runs without the lock, so appends go on meanwhile; a
// segment rotated in between was synced by the rotation.
func (j *journal) sync() error {
	j.mu.Lock()
	if !j.dirty {
		j.mu.Unlock()
		return nil
	}
	j.dirty = false
	f := j.segs[len(j.segs)-1].f
	j.mu.Unlock()
	if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
		j.mu.Lock()
		j.dirty = true
		j.mu.Unlock()
		return err
	}
	return nil
}

// close syncs and closes the active segment (removing it when it holds
// nothing) and unlocks the directory.
func (j *journal) close() error {
	err := j.sync()
	j.mu.Lock()
	defer j.mu.Unlock()
	active := j.segs[len(j.segs)-1]
	if active.f != nil {
		err = errors.Join(err, active.f.Close())
		active.f = nil
		if active.last == 0 {
			if rerr := os.Remove(active.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				err = errors.Join(err, rerr)
			}
		}
	}
	j.unlock()
	return err
}

func (j *journal) unlock() {
	if j.lock != nil {
		unlockDir(j.lock)
		j.lock = nil
	}
}

// syncDir makes a file created or renamed in dir survive a power cut.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
