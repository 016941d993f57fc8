package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…"; empty or
// "dev", the module version of the build info is used.
var version = "dev"

// buildInfo is what `version -o json` prints: the version, and where the
// build info has them, the module, the VCS revision and time, whether the
// tree had changes, and the Go version.
type buildInfo struct {
	Version  string `json:"version"`
	Module   string `json:"module,omitempty"`
	Revision string `json:"revision,omitempty"`
	Time     string `json:"time,omitempty"` // of the revision, RFC 3339
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Go: runtime.Version()}
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

// versionString is the one line of `lifeline --version` and `lifeline
// version`: "lifeline v1.2.3 (rev 0123abcd 2026-11-30T12:00:00Z, modified) go1.26".
func versionString() string {
	b := readBuildInfo()
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
	return fmt.Sprintf("lifeline %s (%s)", b.Version, strings.Join(extra, "; "))
}

func newVersionCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, with the VCS revision of the build (also: --version)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.json() {
				return writeJSON(cmd.OutOrStdout(), readBuildInfo())
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), versionString())
			return err
		},
	}
}
