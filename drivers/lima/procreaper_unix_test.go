//go:build unix

package lima_test

import (
	"context"
	"os/exec"
	"syscall"
	"testing"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/process"
)

// The recovery of a crashed VM whose reap never ran (the daemon was killed
// between the crashed record and the reap): the agent is gone, its QEMU
// stand-in lives on. ProcRuns says, by identity, that the recorded QEMU
// runs; KillProc kills exactly it; then ProcRuns says gone. When someone
// starts the VM again (a user's limactl start), qemu.pid names a new QEMU
// that started after the recorded agent: KillTree with the old record
// would kill it (it trusts qemu.pid for a QEMU started after the agent),
// but ProcRuns says the recorded one is gone and KillProc of the recorded
// identity leaves the new one alone.
func TestProcRunsAndKillProcByIdentity(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	spec := f.spec("", env{"LIFELINE_SIM_ORPHAN_DRIVER": "1"})
	procs := f.spawn("vm1", spec)
	r := f.watch("vm1", spec, procs)
	recorded := r.wait(t, drivers.ObsIdentity).Procs
	f.track("vm1", recorded)
	r.wait(t, drivers.ObsRunning)
	killAgentGroup(t, procs.Agent)
	r.wait(t, drivers.ObsExited)
	if gone(recorded.VMProcess) {
		t.Fatal("setup: the QEMU stand-in died with its agent; want an orphan")
	}

	if runs, err := f.d.ProcRuns(ctx, "vm1", spec, recorded.VMProcess); err != nil || !runs {
		t.Fatalf("ProcRuns(the recorded, live QEMU pid %d) = %t, %v; want it runs", recorded.VMProcess.PID, runs, err)
	}
	if runs, err := f.d.ProcRuns(ctx, "vm1", spec, recorded.Agent); err != nil || runs {
		t.Fatalf("ProcRuns(the dead agent pid %d) = %t, %v; want gone", recorded.Agent.PID, runs, err)
	}
	if err := f.d.KillProc(ctx, "vm1", spec, recorded.VMProcess); err != nil {
		t.Fatal(err)
	}
	if !gone(recorded.VMProcess) || groupAlive(recorded.VMProcess.Group) {
		t.Fatalf("the recorded QEMU pid %d survived KillProc", recorded.VMProcess.PID)
	}
	if runs, err := f.d.ProcRuns(ctx, "vm1", spec, recorded.VMProcess); err != nil || runs {
		t.Fatalf("ProcRuns(the killed QEMU pid %d) = %t, %v; want gone", recorded.VMProcess.PID, runs, err)
	}
	if err := f.d.KillProc(ctx, "vm1", spec, recorded.VMProcess); err != nil {
		t.Fatalf("KillProc of a QEMU already gone: %v; want success", err)
	}

	// Someone starts the VM again: a new agent and a new QEMU, which
	// qemu.pid now names.
	if err := f.d.Cleanup(ctx, "vm1"); err != nil {
		t.Fatal(err)
	}
	users := f.spawn("vm1", f.spec("", env{"LIFELINE_SIM_ORPHAN_DRIVER": "1"}))
	r2 := f.watch("vm1", spec, users)
	newer := r2.wait(t, drivers.ObsIdentity).Procs
	f.track("vm1", newer)
	r2.wait(t, drivers.ObsRunning)
	if runs, err := f.d.ProcRuns(ctx, "vm1", spec, recorded.VMProcess); err != nil || runs {
		t.Fatalf("ProcRuns(the old QEMU pid %d) with a newer QEMU pid %d running = %t, %v; want gone", recorded.VMProcess.PID, newer.VMProcess.PID, runs, err)
	}
	if err := f.d.KillProc(ctx, "vm1", spec, recorded.VMProcess); err != nil {
		t.Fatal(err)
	}
	if gone(newer.VMProcess) || gone(newer.Agent) {
		t.Fatalf("KillProc of the old QEMU's identity killed the newer VM (agent %d, QEMU %d)", newer.Agent.PID, newer.VMProcess.PID)
	}
	if runs, err := f.d.ProcRuns(ctx, "vm1", spec, newer.VMProcess); err != nil || !runs {
		t.Fatalf("ProcRuns(the newer QEMU pid %d) = %t, %v; want it runs", newer.VMProcess.PID, runs, err)
	}
}

// A recorded identity whose pid a live process now holds, with another
// start time (pid reuse), is not the recorded process: ProcRuns says
// gone, and KillProc signals nothing.
func TestProcRunsReusedPIDIsGone(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	other := exec.Command("sleep", "60")
	other.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })
	live, err := process.Identify(other.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if runs, err := f.d.ProcRuns(ctx, "vm1", drivers.Spec{}, live); err != nil || !runs {
		t.Fatalf("ProcRuns(a live process, its own identity) = %t, %v; want it runs", runs, err)
	}
	recorded := live
	recorded.StartTime-- // the recorded process held the pid before
	if runs, err := f.d.ProcRuns(ctx, "vm1", drivers.Spec{}, recorded); err != nil || runs {
		t.Fatalf("ProcRuns(pid %d, another start time) = %t, %v; want gone", recorded.PID, runs, err)
	}
	if err := f.d.KillProc(ctx, "vm1", drivers.Spec{}, recorded); err != nil {
		t.Fatal(err)
	}
	if gone(live) {
		t.Fatalf("KillProc of another identity killed pid %d, which now holds its number", live.PID)
	}
}
