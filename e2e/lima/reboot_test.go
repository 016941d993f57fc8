//go:build linux

package limae2e

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// A simulated host reboot (issue 11 item 6): a Running VM of --restart
// on-failure (blank disk) on host boot "boot-a"; the host goes down — the
// daemon SIGKILLed and every process with it (QEMU, then the host agent,
// SIGKILLed as a power cut would end them) — and the daemon starts on host
// boot "boot-b". lifeline records the VM lost because the host rebooted
// (not "agent pid N is gone"), and the restart policy brings it back:
// Running with a new host agent and QEMU, which `limactl list` sees.
func TestScenarioRebootComesBack(t *testing.T) {
	s := setup(t)
	const vm = "rb"
	s.stopForceOnFailure(t, vm)
	start := time.Now()
	cfg := s.config(vm, 5*time.Second)
	cfg.HostBootID = "boot-a"
	h := startHost(t, s, cfg, 1)
	spec := s.spec(t)
	spec.Restart = engine.RestartOnFailure
	h.do(Command{Op: "create", VM: vm, Spec: spec})
	h.do(Command{Op: "start", VM: vm})
	h.waitRunning(vm, 0, startBound)
	p := h.procs(vm)
	before := h.lastSeq()

	t0 := time.Now()
	h.kill()
	for _, q := range []drivers.Proc{p.VMProcess, p.Agent} {
		if err := syscall.Kill(-q.Group, syscall.SIGKILL); err != nil {
			t.Fatalf("power off: SIGKILL group %d of pid %d: %v", q.Group, q.PID, err)
		}
	}
	eventually(t, "the host agent and QEMU gone", stopBound, func() bool { return !alive(p.Agent) && !alive(p.VMProcess) })

	cfg.HostBootID = "boot-b"
	h2 := startHost(t, s, cfg, 2)
	lost := h2.wait(vm, before, startBound, "lost", func(r store.Record) bool { return r.To == states.Broken })
	if lost.Event != states.Lost || lost.Cause.Kind != store.CauseHostRebooted || !strings.Contains(lost.Reason, "boot-a") || !strings.Contains(lost.Reason, "boot-b") {
		t.Fatalf("after the reboot: %s %s→%s cause %s %q; want lost, host_rebooted (boot-a, now boot-b)\n%s", lost.Event, lost.From, lost.To, lost.Cause.Kind, lost.Reason, h2.history())
	}
	running := h2.wait(vm, lost.Seq, startBound, "Running again", func(r store.Record) bool {
		return r.To == states.Running || (r.To == states.Broken && r.Event != states.Backoff)
	})
	if running.To != states.Running {
		t.Fatalf("after the reboot's restart: %s %s→%s %q; want Running\n%s", running.Event, running.From, running.To, running.Reason, h2.history())
	}
	p2 := h2.procs(vm)
	if !alive(p2.Agent) || !alive(p2.VMProcess) || p2.Agent.PID == p.Agent.PID {
		t.Fatalf("after the reboot: tracked %+v (before %+v); want a new, live host agent and QEMU", p2, p)
	}
	if st := s.limaStatus(t, vm); st != "Running" {
		t.Errorf("limactl list says %s, lifeline Running", st)
	}
	t.Logf("host down at boot-a, daemon up at boot-b: %s %q; Running again %v after the power-off (host agent %d, QEMU %d)",
		lost.Event, lost.Reason, running.Time.Sub(t0).Round(time.Millisecond), p2.Agent.PID, p2.VMProcess.PID)

	before = h2.lastSeq()
	h2.do(Command{Op: "stop", VM: vm, Force: true})
	h2.wait(vm, before, stopBound, "Stopped", to(states.Stopped))
	s.checkClean(t, vm, p2)
	h2.close()
	s.report(t, "host reboot with restart on-failure (blank disk: lost because the host rebooted, restarted, Running)", start)
}
