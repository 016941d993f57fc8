//go:build unix

package daemoncmd

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"
)

// handleDaemonSignals keeps the signals that should not end supervision
// from ending it, until the returned function is called:
//
//   - SIGHUP (the terminal of `lifeline daemon &` closed) is logged and
//     ignored; the log is stderr, there is nothing to reopen.
//   - SIGPIPE is received, so a write to a closed stderr pipe returns
//     EPIPE (which logWriter drops) instead of killing the process: Go
//     kills a program on a broken fd 1 or 2 unless SIGPIPE is notified.
//     Received rather than ignored, so agents still start with the default.
//   - SIGQUIT writes every goroutine's stack to the log (Go's default
//     would dump them and exit 2, orphaning every agent).
func handleDaemonSignals(log zerolog.Logger) (stop func()) {
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, syscall.SIGHUP, syscall.SIGPIPE, syscall.SIGQUIT)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case sig := <-ch:
				switch sig {
				case syscall.SIGHUP:
					log.Warn().Str("signal", "SIGHUP").Msg("SIGHUP ignored: the daemon keeps supervising (SIGTERM or SIGINT stops it)")
				case syscall.SIGQUIT:
					logStacks(log, "SIGQUIT")
				}
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}
