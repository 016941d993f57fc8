package agentsim

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/lima-vm/lima/pkg/hostagent/events"
	"github.com/lima-vm/lima/pkg/logrusutil"
)

// syncer is implemented by *os.File.
type syncer interface{ Sync() error }

// output writes Lima's event lines to stdout and logrus-style JSON log lines
// to stderr, each line in one Write followed by a Sync when the writer is a
// file, as limactl's syncWriter does: a reader tailing ha.stdout.log never
// sees half an event.
type output struct {
	mu     sync.Mutex
	stdout io.Writer
	stderr io.Writer
}

// emit writes one events.Event, stamped now, as a JSON line.
func (o *output) emit(st events.Status) {
	b, err := json.Marshal(events.Event{Time: time.Now(), Status: st})
	if err != nil { // cannot happen: the type has only plain fields
		o.logf("error", "marshal event: %v", err)
		return
	}
	o.write(o.stdout, b)
}

// logLine is a line of logrus's JSON format, which Lima's events.Watch
// propagates from ha.stderr.log (logrusutil.PropagateJSON), extra fields
// included.
type logLine struct {
	logrusutil.JSON
	PID int `json:"pid,omitempty"`
}

// logf writes a log line.
func (o *output) logf(level, format string, args ...any) {
	o.log(logLine{JSON: logrusutil.JSON{Level: level, Msg: fmt.Sprintf(format, args...)}})
}

// logPID writes a log line with a "pid" field.
func (o *output) logPID(level, msg string, pid int) {
	o.log(logLine{JSON: logrusutil.JSON{Level: level, Msg: msg}, PID: pid})
}

func (o *output) log(l logLine) {
	l.Time = time.Now()
	b, err := json.Marshal(l)
	if err != nil {
		return
	}
	o.write(o.stderr, b)
}

func (o *output) write(w io.Writer, line []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, err := w.Write(append(line, '\n')); err != nil {
		return // nobody left to tell
	}
	if s, ok := w.(syncer); ok {
		_ = s.Sync() // a pipe or terminal cannot sync; that is fine
	}
}
