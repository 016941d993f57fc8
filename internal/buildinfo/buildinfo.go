// Package buildinfo is the one version of lifeline's programs: lifeline
// (the CLI) and lifelined (the daemon) report the same module version and
// VCS revision, read from the build info Go embeds in every binary.
//
// A release sets Version at build time:
//
//	go build -ldflags "-X github.com/lifeline-vm/lifeline/internal/buildinfo.Version=v1.2.3" ./cmd/...
//
// Left empty or "dev", the main module's version from the build info is
// used ("(devel)" in a checkout, the tag with `go install ...@v1.2.3`).
//
// The package imports only the standard library and does nothing at
// init: every command of the CLI links it.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Version is set at build time with -ldflags "-X …/internal/buildinfo.Version=…".
var Version = "dev"

// Info is what `lifeline version -o json` prints: the version, and where
// the build info has them, the module, the VCS revision and time, whether
// the tree had changes, and the Go version.
type Info struct {
	Version  string `json:"version"`
	Module   string `json:"module,omitempty"`
	Revision string `json:"revision,omitempty"`
	Time     string `json:"time,omitempty"` // of the revision, RFC 3339
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
}

// Read returns this binary's Info.
func Read() Info {
	b := Info{Version: Version, Go: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.Module = bi.Main.Path
	if (b.Version == "" || b.Version == "dev") && bi.Main.Version != "" {
		b.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// String is the one line of `PROGRAM --version`:
// "lifeline v1.2.3 (rev 0123abcd4567 2026-11-30T12:00:00Z, modified; go1.26)".
func String(program string) string {
	b := Read()
	var extra []string
	if b.Revision != "" {
		rev := b.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		r := "rev " + rev
		if b.Time != "" {
			r += " " + b.Time
		}
		if b.Modified {
			r += ", modified"
		}
		extra = append(extra, r)
	}
	extra = append(extra, b.Go)
	return fmt.Sprintf("%s %s (%s)", program, b.Version, strings.Join(extra, "; "))
}
