// Package buildinfo says which build of event-grpc is running: the module
// version, the VCS revision and time, whether the tree was modified, and
// the Go version, read from runtime/debug.ReadBuildInfo. Release builds
// (scripts/release.sh) set the version, revision and time with
//
//	-ldflags "-X github.com/event-grpc/event-grpc/internal/buildinfo.version=v0.2.0
//	          -X github.com/event-grpc/event-grpc/internal/buildinfo.revision=<sha>
//	          -X github.com/event-grpc/event-grpc/internal/buildinfo.buildTime=<RFC 3339>"
//
// which win over what the Go toolchain stamped (a build from a source
// archive has no VCS information).
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set by -ldflags -X in release builds; empty otherwise.
var (
	version   string
	revision  string
	buildTime string
)

// Info describes the running binary.
type Info struct {
	// Version is the release or module version ("v0.2.0"), or "devel".
	Version string `json:"version"`
	// Revision is the VCS commit the binary was built from ("" if unknown).
	Revision string `json:"revision,omitempty"`
	// Time is the commit time (or the release build's time), RFC 3339.
	Time string `json:"time,omitempty"`
	// Modified is true when the working tree had uncommitted changes.
	Modified bool `json:"modified,omitempty"`
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string `json:"go_version"`
}

// Get returns the running binary's build information.
func Get() Info {
	return get(debug.ReadBuildInfo)
}

func get(read func() (*debug.BuildInfo, bool)) Info {
	in := Info{Version: "devel", GoVersion: runtime.Version()}
	if bi, ok := read(); ok {
		if bi.GoVersion != "" {
			in.GoVersion = bi.GoVersion
		}
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			in.Version = v
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				in.Revision = s.Value
			case "vcs.time":
				in.Time = s.Value
			case "vcs.modified":
				in.Modified = s.Value == "true"
			}
		}
	}
	if version != "" {
		in.Version = version
	}
	if revision != "" {
		in.Revision = revision
		in.Modified = false
	}
	if buildTime != "" {
		in.Time = buildTime
	}
	return in
}

// Short is the one-word version: the release or module version, else the
// revision's first 12 digits (with "-dirty" for a modified tree), else
// "devel" (`go run`, which stamps no VCS information).
func (in Info) Short() string {
	if in.Version != "devel" {
		return in.Version
	}
	if in.Revision == "" {
		return "devel"
	}
	s := in.Revision[:min(12, len(in.Revision))]
	if in.Modified {
		s += "-dirty"
	}
	return s
}

// String is what `event-grpc version` prints: one key=value per line.
func (in Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "event-grpc %s\n", in.Short())
	fmt.Fprintf(&b, "version=%s\n", in.Version)
	fmt.Fprintf(&b, "revision=%s\n", orUnknown(in.Revision))
	fmt.Fprintf(&b, "time=%s\n", orUnknown(in.Time))
	fmt.Fprintf(&b, "modified=%t\n", in.Modified)
	fmt.Fprintf(&b, "go=%s\n", in.GoVersion)
	fmt.Fprintf(&b, "platform=%s/%s\n", runtime.GOOS, runtime.GOARCH)
	return b.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
