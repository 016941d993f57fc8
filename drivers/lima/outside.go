package lima

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"time"

	"github.com/lima-vm/lima/pkg/store/filenames"

	"github.com/lifeline-vm/lifeline/drivers/process"
)

// Stops from outside: `limactl stop` and `limactl stop -f` on a VM lifeline
// runs. Measured with, and read from, Lima 1.2.3.
//
// `limactl stop NAME` (pkg/instance/stop.go, StopGracefully) sends SIGINT
// to the pid in ha.pid and waits for the "exiting" event. The host agent
// (pkg/hostagent/hostagent.go, startRoutinesAndWait) logs the JSON line
// `Received SIGINT, shutting down the host agent` to its stderr
// (ha.stderr.log, logrus), stops QEMU (the ACPI power button over QMP;
// killed after 3 minutes), reports {"exiting":true} in a defer of Run,
// removes ha.pid and exits: 0, or 1 when QEMU had to be killed. SIGTERM
// takes the same path and logs the same line with its name. A guest that
// powers itself off, or a QEMU that dies, ends the agent the same way
// (exit 0 after "exiting"), but its log says "Driver stopped due to error"
// and no signal line: the signal line is what tells a stop someone asked
// for from a failure.
//
// `limactl stop -f NAME` (StopForcibly) sends SIGKILL to the pid in
// qemu.pid, then to the one in ha.pid, then removes every *.pid, *.sock and
// *.tmp of the instance. The agent dies without "exiting" and removes
// nothing. An agent killed otherwise (the OOM killer, kill -9) leaves
// ha.pid, ha.sock and qemu.pid behind, and its QEMU, in a process group of
// its own, lives on; Lima's store.Inspect (`limactl list`) removes a pid
// file whose process is gone, but never ha.sock.
//
// So a watch reports an agent's exit as stopped from outside
// (Observation.Outside) on either evidence:
//
//   - graceful: the agent said "exiting", and the last 1 MiB of its
//     ha.stderr.log holds the line `Received SIGINT (or SIGTERM), shutting
//     down the host agent`, stamped no earlier than the agent's start;
//   - forced: the agent did not say "exiting"; it was killed by SIGKILL
//     (the exit status of an agent this driver did not spawn is unknown,
//     and not held against it); its VM driver process had been identified,
//     so ha.pid, ha.sock and qemu.pid had all been written; and within
//     OutsideStopWait of the exit ha.pid, ha.sock and every VM driver pid
//     file are gone, removed by someone else.
//
// In both cases the identified VM driver process must be gone too, within
// OutsideStopWait: nothing of the VM may run when the engine records a
// stop. Who sent the signal the driver cannot tell; the engine knows
// whether it did (it trusts the evidence only for a Starting or Running
// VM, to which it sent none). A forced stop whose files were not all
// removed, or a SIGKILL to an agent whose QEMU was never identified, stays
// a crash: the evidence does not tell it from one.

// receivedSignal matches the line Lima's host agent logs when it gets
// SIGINT or SIGTERM: logrus.Infof("Received %s, shutting down the host
// agent", osutil.SignalName(sig)) in pkg/hostagent/hostagent.go.
var receivedSignal = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^Received (SIGINT|SIGTERM), shutting down the host agent$`)
})

const (
	// stderrTail is how much of the end of ha.stderr.log is searched for
	// the signal line: what the agent logs after it (its shutdown, QEMU's
	// power-down) is far less.
	stderrTail = 1 << 20
	// outsidePoll is the pause between two looks for the evidence.
	outsidePoll = 20 * time.Millisecond
)

// outsideEvidence returns, for an agent that just exited, the evidence
// that someone other than lifeline stopped it, in words, or "" when there
// is none. It may wait up to OutsideStopWait (less when ctx ends) for what
// comes after the exit.
func (w *watch) outsideEvidence(ctx context.Context) string {
	var evidence string
	filesGone := func() bool { return true }
	if w.exiting {
		msg, at, ok := w.signalLine()
		if !ok {
			return ""
		}
		evidence = fmt.Sprintf(`the host agent logged %q at %s (%s) and said "exiting"`,
			msg, at.UTC().Format(time.RFC3339), filenames.HostAgentStderrLog)
	} else {
		if w.procs.VMProcess.IsZero() {
			return "" // ha.sock and qemu.pid may never have been written
		}
		how := `its exit status is unknown (not spawned by this daemon)`
		if w.state != nil {
			st := w.state()
			if !killedBySIGKILL(st) {
				return ""
			}
			how = "it was killed by SIGKILL"
		}
		files := append([]string{filenames.HostAgentPID, filenames.HostAgentSock}, driverPIDFiles...)
		filesGone = func() bool { return allGone(w.dir, files) }
		evidence = fmt.Sprintf(`the host agent ended without saying "exiting" (%s), and %s, %s and the VM driver's pid file were removed by someone else (a killed agent removes none; limactl stop -f removes them all)`,
			how, filenames.HostAgentPID, filenames.HostAgentSock)
	}
	driverGone := func() bool {
		return w.procs.VMProcess.IsZero() || errors.Is(process.Check(w.procs.VMProcess), process.ErrGone)
	}
	if !pollUntil(ctx, OutsideStopWait, func() bool { return driverGone() && filesGone() }) {
		return ""
	}
	if !w.procs.VMProcess.IsZero() {
		evidence += fmt.Sprintf("; the VM driver process (pid %d) is gone", w.procs.VMProcess.PID)
	}
	return evidence
}

// signalLine returns the last line of the agent's ha.stderr.log that says
// it received SIGINT or SIGTERM, with its time, among the log's last
// stderrTail bytes and not stamped before the agent started.
func (w *watch) signalLine() (msg string, at time.Time, ok bool) {
	f, err := os.Open(filepath.Join(w.dir, filenames.HostAgentStderrLog))
	if err != nil {
		return "", time.Time{}, false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", time.Time{}, false
	}
	off := max(0, fi.Size()-stderrTail)
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return "", time.Time{}, false
	}
	// Lima stamps its log lines to the second.
	since := w.since.Truncate(time.Second)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), stderrTail+1)
	cut := off > 0 // the first line may have been cut by the seek
	for sc.Scan() {
		if cut {
			cut = false
			continue
		}
		var l struct {
			Msg  string    `json:"msg"`
			Time time.Time `json:"time"`
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil || !receivedSignal().MatchString(l.Msg) || l.Time.Before(since) {
			continue
		}
		msg, at, ok = l.Msg, l.Time, true
	}
	return msg, at, ok
}

// killedBySIGKILL reports whether st is the end of a process killed by
// SIGKILL. It is false for a nil st and wherever the OS has no signals.
func killedBySIGKILL(st *os.ProcessState) bool {
	if st == nil {
		return false
	}
	ws, ok := st.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// allGone reports whether none of the files names exists in dir.
func allGone(dir string, names []string) bool {
	for _, n := range names {
		if _, err := os.Lstat(filepath.Join(dir, n)); !errors.Is(err, os.ErrNotExist) {
			return false
		}
	}
	return true
}

// pollUntil checks cond every outsidePoll until it holds (true), or d has
// passed or ctx ended (false).
func pollUntil(ctx context.Context, d time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(outsidePoll)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return cond()
		case <-tick.C:
		}
	}
}
