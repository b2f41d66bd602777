package client

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestJournalReload: records come back in order after a restart; a torn
// record at a segment's end (a power cut mid-write) ends that segment's
// reload without losing the next segment; settled segments are removed.
func TestJournalReload(t *testing.T) {
	dir := t.TempDir()
	var seq uint64
	add := func(got *[]string) func([]byte) uint64 {
		return func(b []byte) uint64 { *got = append(*got, string(b)); seq++; return seq }
	}
	var none []string
	j, err := openJournal(dir, 64, 1024, add(&none))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 10; i++ { // 64-byte segments: two 20-byte records each
		if err := j.append(uint64(i), []byte("event-number-"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.release(4); err != nil { // the first two segments
		t.Fatal(err)
	}
	if err := j.close(); err != nil {
		t.Fatal(err)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	if len(names) != 3 {
		t.Fatalf("segments %v, want 3 (events 5-10)", names)
	}
	// Tear the last record of the middle segment.
	st, _ := os.Stat(names[1])
	if err := os.Truncate(names[1], st.Size()-3); err != nil {
		t.Fatal(err)
	}
	var got []string
	seq = 100
	j, err = openJournal(dir, 64, 1024, add(&got))
	if err != nil {
		t.Fatal(err)
	}
	defer j.close()
	want := []string{"event-number-5", "event-number-6", "event-number-7", "event-number-9", "event-number-10"}
	if len(got) != len(want) {
		t.Fatalf("reloaded %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("reloaded %q, want %q", got, want)
		}
	}
	// All settled: every segment goes.
	if err := j.release(seq); err != nil {
		t.Fatal(err)
	}
	names, _ = filepath.Glob(filepath.Join(dir, "seg-*.log"))
	if len(names) != 1 { // the new, empty active one
		t.Fatalf("segments after release %v", names)
	}
}
