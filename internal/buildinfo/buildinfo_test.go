package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestGetFromBuildInfo(t *testing.T) {
	read := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123"},
			{Key: "vcs.time", Value: "2026-12-07T10:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		}}, true
	}
	in := get(read)
	if in.Version != "devel" || in.Revision != "0123456789abcdef0123" || in.Time != "2026-12-07T10:00:00Z" || !in.Modified || in.GoVersion != "go1.26.8" {
		t.Fatalf("got %+v", in)
	}
	if got := in.Short(); got != "0123456789ab-dirty" {
		t.Fatalf("Short() = %q", got)
	}
	for _, want := range []string{"revision=0123456789abcdef0123\n", "time=2026-12-07T10:00:00Z\n", "modified=true\n", "go=go1.26.8\n"} {
		if !strings.Contains(in.String(), want) {
			t.Errorf("String() lacks %q:\n%s", want, in.String())
		}
	}
}

func TestLdflagsWin(t *testing.T) {
	defer func(v, r, b string) { version, revision, buildTime = v, r, b }(version, revision, buildTime)
	version, revision, buildTime = "v0.2.0", "fedcba", "2026-12-07T11:00:00Z"
	in := get(func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "aaaa"}, {Key: "vcs.modified", Value: "true"}}}, true
	})
	if in.Version != "v0.2.0" || in.Revision != "fedcba" || in.Modified || in.Time != "2026-12-07T11:00:00Z" || in.Short() != "v0.2.0" {
		t.Fatalf("got %+v, Short %q", in, in.Short())
	}
}

func TestNoBuildInfo(t *testing.T) {
	in := get(func() (*debug.BuildInfo, bool) { return nil, false })
	if in.Short() != "devel" || in.GoVersion == "" || !strings.Contains(in.String(), "revision=unknown\n") {
		t.Fatalf("got %+v", in)
	}
}
