package lima

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lima-vm/lima/pkg/store/filenames"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/process"
)

// The host agent's logs of earlier starts: Spawn keeps them rather than
// truncating them as Lima's start does, so that the words of an agent that
// crashed survive the restart that follows.
const (
	// KeptLogs is how many earlier starts' logs Spawn keeps: NAME.1 is the
	// start before the current one, NAME.KeptLogs the oldest kept.
	KeptLogs = 5
	// KeptLogBytes bounds each kept log: a longer one keeps its last
	// KeptLogBytes, cut at a line's start.
	KeptLogBytes = 1 << 20
)

// Bounds of the excerpt of the host agent's own error lines an exit
// observation carries.
const (
	excerptLines = 3
	excerptBytes = 512
	// excerptScan is how much of the end of ha.stderr.log is searched.
	excerptScan = 64 << 10
)

var _ drivers.LogReader = (*Driver)(nil)

// rotateLogs keeps the logs of the agent that ran last in dir as NAME.1,
// shifting the older ones up to NAME.KeptLogs and dropping the oldest. It
// runs only once nothing of the instance runs (Spawn checks first), so the
// files it moves are never a live agent's.
func rotateLogs(dir string) error {
	for _, name := range []string{filenames.HostAgentStderrLog, filenames.HostAgentStdoutLog} {
		cur := filepath.Join(dir, name)
		if _, err := os.Stat(cur); errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			return fmt.Errorf("keep the previous %s: %w", name, err)
		}
		if err := os.Remove(keptLog(cur, KeptLogs)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("drop the oldest %s: %w", name, err)
		}
		for i := KeptLogs - 1; i >= 1; i-- {
			if err := os.Rename(keptLog(cur, i), keptLog(cur, i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("keep the earlier %s: %w", name, err)
			}
		}
		if err := keepTail(cur, keptLog(cur, 1), KeptLogBytes); err != nil {
			return fmt.Errorf("keep the previous %s: %w", name, err)
		}
	}
	return nil
}

// keptLog is the name of the log of the n-th start before the current one.
func keptLog(cur string, n int) string { return cur + "." + strconv.Itoa(n) }

// keepTail moves src to dst, keeping at most its last limit bytes, cut at
// the start of a line.
func keepTail(src, dst string, limit int64) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	if fi.Size() <= limit {
		f.Close()
		return os.Rename(src, dst)
	}
	defer f.Close()
	buf := make([]byte, limit)
	if _, err := f.ReadAt(buf, fi.Size()-limit); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if i := bytes.IndexByte(buf, '\n'); i >= 0 {
		buf = buf[i+1:]
	}
	if err := os.WriteFile(dst, buf, 0o644); err != nil {
		return err
	}
	return os.Remove(src)
}

// errorExcerpt returns the last telling lines of the host agent's JSON log
// (logrus; their "msg" and "error"), at most excerptLines
// and excerptBytes, oldest first and joined with "; ", leaving out those
// already in skip (the errors the events carried). "" if there are none
// or the log cannot be read.
func errorExcerpt(path string, skip []string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > excerptScan {
		if _, err := f.Seek(fi.Size()-excerptScan, io.SeekStart); err != nil {
			return ""
		}
	}
	var msgs []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	warned := false // the last QEMU line was a warning: its continuation is one too
	for sc.Scan() {
		var l struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Error string `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		if q, ok := strings.CutPrefix(l.Msg, qemuStderr); ok {
			w := qemuWarning(q, warned)
			warned = w
			if w {
				continue
			}
		}
		if !telling(l.Level, l.Msg) {
			continue
		}
		msg := strings.TrimSpace(l.Msg)
		if l.Error != "" {
			msg += ": " + l.Error
		}
		if msg == "" || contains(skip, msg) || contains(msgs, msg) {
			continue
		}
		msgs = append(msgs, msg)
	}
	if len(msgs) > excerptLines {
		msgs = msgs[len(msgs)-excerptLines:]
	}
	s := strings.Join(msgs, "; ")
	if len(s) > excerptBytes {
		s = "…" + strings.ToValidUTF8(s[len(s)-excerptBytes:], "")
	}
	return s
}

// qemuStderr prefixes what QEMU wrote to its stderr in the host agent's log.
const qemuStderr = "qemu[stderr]: "

// qemuWarning reports whether a line QEMU wrote to its stderr is a
// warning ("qemu-system-x86_64: -drive ...: warning: short-form boolean
// option 'readonly' deprecated"), or the continuation of the one before
// ("Please use readonly=on instead") when that was a warning. Warnings
// are printed at every start and say nothing about why QEMU stopped.
func qemuWarning(line string, afterWarning bool) bool {
	if strings.HasPrefix(line, "warning: ") || strings.Contains(line, ": warning: ") {
		return true
	}
	// A continuation does not name the program, as QEMU's own messages do.
	return afterWarning && !strings.HasPrefix(line, "qemu-")
}

// telling reports whether a line of the host agent's log says why it
// stopped: an error or fatal line, Lima's "Driver stopped due to error"
// (logged at info), or what QEMU wrote to its stderr (logged at debug as
// "qemu[stderr]: ...", with --debug).
func telling(level, msg string) bool {
	return level == "error" || level == "fatal" ||
		strings.HasPrefix(msg, "Driver stopped due to error") || strings.HasPrefix(msg, qemuStderr)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// AgentLog writes the host agent's own log (ha.stderr.log, logrus JSON
// lines) of vm's current or last start, or with opts.Previous of the start
// before it (kept by Spawn); with opts.Events its events instead
// (ha.stdout.log, one JSON event a line, as the agent wrote them: the
// reader skips what is not one). With opts.Follow it writes what a live
// agent appends, until the agent named by ha.pid exits or ctx ends.
func (d *Driver) AgentLog(ctx context.Context, vm string, opts drivers.LogOptions, w io.Writer) error {
	dir, err := d.InstanceDir(vm)
	if err != nil {
		return err
	}
	file, what := filenames.HostAgentStderrLog, "log"
	if opts.Events {
		file, what = filenames.HostAgentStdoutLog, "events"
	}
	path := filepath.Join(dir, file)
	which, hint := "current", "the VM was never started here; start it, then retry"
	if opts.Previous {
		path, which, hint = keptLog(path, 1), "previous start's", "it is kept from the VM's second start on"
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("vm %q: %w: the %s host agent %s %s does not exist: %s", vm, drivers.ErrNoLog, which, what, path, hint)
	}
	if err != nil {
		return fmt.Errorf("vm %q: read the host agent %s: %w", vm, what, err)
	}
	defer f.Close()
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("vm %q: write the host agent %s: %w", vm, what, err)
	}
	if !opts.Follow || opts.Previous {
		return nil
	}
	agent, live, err := livePIDFile(filepath.Join(dir, filenames.HostAgentPID))
	if err != nil || !live {
		return nil // nothing runs that could add to the log
	}
	flush, _ := w.(interface{ Flush() })
	pause := firstPoll
	for {
		if flush != nil {
			flush.Flush()
		}
		gone := errors.Is(process.Check(agent), process.ErrGone)
		n, err := io.Copy(w, f)
		if err != nil {
			return fmt.Errorf("vm %q: write the host agent %s: %w", vm, what, err)
		}
		if gone {
			return nil // what the agent wrote before it went has been copied
		}
		if n > 0 {
			pause = firstPoll
		} else {
			pause = min(2*pause, PollInterval)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pause):
		}
	}
}
