//go:build windows

package daemoncmd

import "github.com/rs/zerolog"

// handleDaemonSignals does nothing on Windows: there is no SIGHUP, SIGPIPE
// or SIGQUIT to survive (a closed console is SIGTERM there).
func handleDaemonSignals(zerolog.Logger) (stop func()) { return func() {} }
