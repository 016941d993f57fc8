// Package datadir is where the daemon and its clients agree the data dir
// is when none is given (client.DefaultDataDir). It is a package of its
// own, of the standard library only, so that lifeline's fast path
// (internal/cli/fastpath) finds the daemon's socket without linking the
// client.
package datadir

import (
	"os"
	"path/filepath"
)

// Default is $LIFELINE_HOME, else $XDG_STATE_HOME/lifeline, else
// ~/.local/state/lifeline.
func Default() string {
	if d := os.Getenv("LIFELINE_HOME"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "lifeline")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "lifeline")
	}
	return filepath.Join(home, ".local", "state", "lifeline")
}
