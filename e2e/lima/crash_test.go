//go:build linux

package limae2e

import (
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// A blank disk with restart on-failure (issue 11's Tests: a crash with the
// restart policy): QEMU is SIGKILLed under a Running VM → Lima's host agent
// says "Driver stopped due to error" and exits → lifeline records crashed
// (not a stop from outside), quoting Lima's words → the restart policy
// starts it again → Running, and the QEMU lifeline now tracks is the new
// one: alive, named by qemu.pid, and what `limactl list` sees Running.
func TestScenarioCrashRestartTracked(t *testing.T) {
	s := setup(t)
	const vm = "cr"
	s.stopForceOnFailure(t, vm)
	start := time.Now()
	h := startHost(t, s, s.config(vm, 5*time.Second), 1)
	spec := s.spec(t)
	spec.Restart = engine.RestartOnFailure
	h.do(Command{Op: "create", VM: vm, Spec: spec})
	h.do(Command{Op: "start", VM: vm})
	h.waitRunning(vm, 0, startBound)
	p := h.procs(vm)

	before := h.lastSeq()
	t0 := time.Now()
	if err := syscall.Kill(p.VMProcess.PID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill QEMU %d: %v", p.VMProcess.PID, err)
	}
	crash := h.wait(vm, before, stopBound, "crashed", func(r store.Record) bool { return r.From == states.Running })
	if crash.Event != states.Crashed || crash.To != states.Broken || !strings.Contains(crash.Reason, "Driver stopped due to error") {
		t.Fatalf("after QEMU was killed: %s %s→%s %q; want crashed Running→Broken quoting Lima's \"Driver stopped due to error\"\n%s", crash.Event, crash.From, crash.To, crash.Reason, h.history())
	}
	t.Logf("QEMU %d SIGKILLed → lifeline %s %s→%s after %v: %q", p.VMProcess.PID, crash.Event, crash.From, crash.To, time.Since(t0).Round(time.Millisecond), crash.Reason)

	// After the crash come backoff (Broken → Broken), restart (→ Starting)
	// and the new agent's records; a start that failed would end Broken.
	running := h.wait(vm, crash.Seq, startBound, "Running again", func(r store.Record) bool {
		return r.To == states.Running || (r.To == states.Broken && r.Event != states.Backoff)
	})
	if running.To != states.Running {
		t.Fatalf("after the restart: %s %s→%s %q; want Running\n%s", running.Event, running.From, running.To, running.Reason, h.history())
	}
	p2 := h.procs(vm)
	t.Logf("restart policy: Running again %v after the kill: host agent %d, QEMU %d", running.Time.Sub(t0).Round(time.Millisecond), p2.Agent.PID, p2.VMProcess.PID)
	h.mu.Lock()
	var restarted bool
	for _, r := range h.recs {
		if r.VM == vm && r.Seq > crash.Seq && r.Seq < running.Seq && r.Event == states.Restart {
			restarted = true
		}
	}
	h.mu.Unlock()
	if !restarted {
		t.Errorf("Running again without a restart record:\n%s", h.history())
	}
	if alive(p.VMProcess) || alive(p.Agent) {
		t.Errorf("the crashed run's QEMU %d or host agent %d still runs", p.VMProcess.PID, p.Agent.PID)
	}
	if p2.VMProcess.IsZero() || p2.VMProcess.PID == p.VMProcess.PID || !alive(p2.VMProcess) || !alive(p2.Agent) {
		t.Fatalf("tracked after the restart: %+v (before the crash %+v); want a new, live QEMU and host agent", p2, p)
	}
	if got := strings.TrimSpace(readFile(filepath.Join(s.limaHome, vm, "qemu.pid"))); got != strconv.Itoa(p2.VMProcess.PID) {
		t.Errorf("qemu.pid = %q, lifeline tracks QEMU %d", got, p2.VMProcess.PID)
	}
	if st := s.limaStatus(t, vm); st != "Running" {
		t.Errorf("limactl list says %s, lifeline Running", st)
	}

	before = h.lastSeq()
	h.do(Command{Op: "stop", VM: vm, Force: true})
	h.wait(vm, before, stopBound, "Stopped", to(states.Stopped))
	s.checkClean(t, vm, p2)
	h.close()
	s.report(t, "crash with restart on-failure (blank disk: QEMU killed, crashed, restarted, the new QEMU tracked)", start)
}
