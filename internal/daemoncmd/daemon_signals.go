package daemoncmd

import (
	"io"
	"runtime"
	"sync/atomic"

	"github.com/rs/zerolog"
)

// logWriter is the daemon's log output. It never fails: a daemon whose
// stderr is gone (a closed pipe, `lifeline daemon 2>&1 | head`; a full
// disk) keeps supervising, and counts the writes it lost.
type logWriter struct {
	w    io.Writer
	lost atomic.Int64
}

func (l *logWriter) Write(p []byte) (int, error) {
	if _, err := l.w.Write(p); err != nil {
		l.lost.Add(1)
	}
	return len(p), nil
}

// maxStackDump bounds the goroutine dump SIGQUIT writes to the log.
const maxStackDump = 64 << 20

// logStacks writes every goroutine's stack to the log: what Go's default
// SIGQUIT prints, without ending the daemon.
func logStacks(log zerolog.Logger, signal string) {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) || len(buf) >= maxStackDump {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	log.Warn().Str("signal", signal).Int("goroutines", runtime.NumGoroutine()).Str("stacks", string(buf)).
		Msg("goroutine dump on request; the daemon goes on (SIGTERM or SIGINT stops it)")
}
