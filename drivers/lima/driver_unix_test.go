//go:build unix

package lima_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lima-vm/lima/pkg/store/filenames"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/lima"
	"github.com/lifeline-vm/lifeline/drivers/process"
)

// Spawn starts the agent in its own group with Lima's command line; Watch
// reports the QEMU stand-in's identity before running; SIGINT stops both
// gracefully ("exiting", exit 0); the tree kill is then a no-op and cleanup
// leaves no stale files.
func TestSpawnIdentityRunningAndGracefulStop(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	spec := f.spec("", env{"LIFELINE_SIM_START_DELAY": "100ms"})
	procs := f.spawn("vm1", spec)
	if procs.Agent.PID <= 0 || procs.Agent.Group != procs.Agent.PID || procs.Agent.StartTime == 0 {
		t.Fatalf("agent identity %+v: want a pid leading its own group, with a start time", procs.Agent)
	}
	if !procs.VMProcess.IsZero() {
		t.Fatalf("Spawn returned a driver identity %+v before qemu.pid could exist", procs.VMProcess)
	}
	r := f.watch("vm1", spec, procs)
	id := r.wait(t, drivers.ObsIdentity)
	run := r.wait(t, drivers.ObsRunning)
	if i, j := r.index(drivers.ObsIdentity), r.index(drivers.ObsRunning); i > j {
		t.Errorf("identity reported after running: %s", describe(r.all()))
	}
	drv := id.Procs.VMProcess
	if id.Procs.Agent != procs.Agent || drv.IsZero() || drv.Group != drv.PID || drv.Group == procs.Agent.Group || drv.StartTime < procs.Agent.StartTime {
		t.Fatalf("identity %+v: want the agent %+v and a driver in a group of its own, started after it", id.Procs, procs.Agent)
	}
	if run.Procs.VMProcess != drv {
		t.Errorf("running carries driver %+v, want %+v", run.Procs.VMProcess, drv)
	}
	// Lima's files: ha.pid holds the agent's pid, qemu.pid the driver's.
	if b, err := os.ReadFile(filepath.Join(f.dir("vm1"), filenames.HostAgentPID)); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(procs.Agent.PID) {
		t.Errorf("ha.pid = %q, %v; want %d", b, err, procs.Agent.PID)
	}
	if b, err := os.ReadFile(filepath.Join(f.dir("vm1"), "qemu.pid")); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(drv.PID) {
		t.Errorf("qemu.pid = %q, %v; want %d", b, err, drv.PID)
	}
	if live, _, err := f.d.Lookup(context.Background(), "vm1", spec, id.Procs, time.Time{}); err != nil || live != drivers.Ready {
		t.Errorf("Lookup of a running agent = %s, %v; want ready", live, err)
	}

	if err := f.d.Interrupt(context.Background(), "vm1", id.Procs); err != nil {
		t.Fatal(err)
	}
	ex := r.wait(t, drivers.ObsExited)
	if ex.Code != 0 || !ex.Exiting || ex.Signal != 0 || !strings.Contains(ex.Reason, `after "exiting"`) {
		t.Errorf("exit %d (signal %d, exiting %v) %q: want 0 after \"exiting\"", ex.Code, ex.Signal, ex.Exiting, ex.Reason)
	}
	eventually(t, "driver child gone after the graceful stop", func() bool { return gone(drv) })
	if err := f.d.KillTree(context.Background(), "vm1", id.Procs); err != nil {
		t.Errorf("KillTree of a tree already gone: %v", err)
	}
	if err := f.d.Cleanup(context.Background(), "vm1"); err != nil {
		t.Fatal(err)
	}
	if s := staleFiles(t, f.dir("vm1")); len(s) > 0 {
		t.Errorf("stale files after cleanup: %v", s)
	}
	for _, keep := range []string{filenames.LimaYAML, filenames.HostAgentStdoutLog, filenames.HostAgentStderrLog} {
		if _, err := os.Stat(filepath.Join(f.dir("vm1"), keep)); err != nil {
			t.Errorf("cleanup removed %s: %v", keep, err)
		}
	}
}

// ready: agent counts an agent that never reports running as up once its
// socket answers; ready: guest does not.
func TestReadyAgent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	spec := f.spec(lima.ReadyAgent, env{"LIFELINE_SIM_NEVER_RUNNING": "1"})
	procs := f.spawn("vm1", spec)
	r := f.watch("vm1", spec, procs)
	run := r.wait(t, drivers.ObsRunning)
	if r.index(drivers.ObsIdentity) < 0 || r.index(drivers.ObsIdentity) > r.index(drivers.ObsRunning) {
		t.Errorf("want identity before running: %s", describe(r.all()))
	}
	if !strings.Contains(run.Reason, "answers") {
		t.Errorf("running reason %q", run.Reason)
	}
	ctx := context.Background()
	if live, _, err := f.d.Lookup(ctx, "vm1", spec, run.Procs, time.Time{}); err != nil || live != drivers.Ready {
		t.Errorf("Lookup (ready: agent) = %s, %v; want ready", live, err)
	}
	guest := spec
	guest.Ready = lima.ReadyGuest
	if live, _, err := f.d.Lookup(ctx, "vm1", guest, run.Procs, time.Time{}); err != nil || live != drivers.Alive {
		t.Errorf("Lookup (ready: guest) of an agent that never said running = %s, %v; want alive", live, err)
	}
}

// An agent and a driver that ignore SIGINT and SIGTERM: the tree kill ends
// both groups, and nothing of either is left.
func TestIgnoreSignalsKillTreeKillsBothTrees(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	spec := f.spec("", env{"LIFELINE_SIM_IGNORE_SIGINT": "1", "LIFELINE_SIM_IGNORE_SIGTERM": "1"})
	procs := f.spawn("vm1", spec)
	r := f.watch("vm1", spec, procs)
	procs = r.wait(t, drivers.ObsIdentity).Procs
	r.wait(t, drivers.ObsRunning)
	ctx := context.Background()
	if err := f.d.Interrupt(ctx, "vm1", procs); err != nil {
		t.Fatal(err)
	}
	if err := f.d.Terminate(ctx, "vm1", procs); err != nil {
		t.Fatal(err)
	}
	if gone(procs.Agent) || gone(procs.VMProcess) {
		t.Fatal("an agent that ignores SIGINT and SIGTERM exited")
	}
	if err := f.d.Cleanup(ctx, "vm1"); !errors.Is(err, lima.ErrAgentAlive) || !errors.Is(err, process.ErrAlive) {
		t.Errorf("Cleanup while the agent runs: %v; want ErrAgentAlive", err)
	}
	if err := f.d.KillTree(ctx, "vm1", procs); err != nil {
		t.Fatal(err)
	}
	for _, p := range []drivers.Proc{procs.Agent, procs.VMProcess} {
		if !gone(p) || groupAlive(p.Group) {
			t.Errorf("pid %d (group %d) survived KillTree", p.PID, p.Group)
		}
	}
	ex := r.wait(t, drivers.ObsExited)
	if ex.Code != -1 {
		t.Errorf("killed agent exit code %d, want -1 (signal)", ex.Code)
	}
	if err := f.d.KillTree(ctx, "vm1", procs); err != nil {
		t.Errorf("second KillTree: %v", err)
	}
	if err := f.d.Cleanup(ctx, "vm1"); err != nil {
		t.Fatal(err)
	}
}

// An agent that fails at start: ObsFailed with its error text, then
// ObsExited with the code and the same text.
func TestFailStart(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	spec := f.spec("", env{"LIFELINE_SIM_FAIL_START": "1"})
	procs := f.spawn("vm1", spec)
	r := f.watch("vm1", spec, procs)
	failed := r.wait(t, drivers.ObsFailed)
	ex := r.wait(t, drivers.ObsExited)
	if !strings.Contains(failed.Reason, "simulated start failure") {
		t.Errorf("failed reason %q: want the error event's text", failed.Reason)
	}
	if ex.Code != 1 || !strings.Contains(ex.Reason, "simulated start failure") || !strings.Contains(ex.Reason, "exit status 1") {
		t.Errorf("exit %d %q: want 1 with the error text", ex.Code, ex.Reason)
	}
	if r.index(drivers.ObsRunning) >= 0 {
		t.Errorf("running reported for an agent that failed: %s", describe(r.all()))
	}
}

// An agent that crashes after running: ObsExited, without "exiting"; the
// files it left go with Cleanup.
func TestCrashAfter(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	spec := f.spec("", env{"LIFELINE_SIM_CRASH_AFTER": "300ms"})
	procs := f.spawn("vm1", spec)
	r := f.watch("vm1", spec, procs)
	r.wait(t, drivers.ObsRunning)
	ex := r.wait(t, drivers.ObsExited)
	if ex.Code != 1 || ex.Exiting || !strings.Contains(ex.Reason, `without "exiting"`) {
		t.Errorf("exit %d %q: want 1 without \"exiting\"", ex.Code, ex.Reason)
	}
	if len(staleFiles(t, f.dir("vm1"))) == 0 {
		t.Error("a crashed agent-sim should leave ha.pid, ha.sock and qemu.pid")
	}
	ctx := context.Background()
	if err := f.d.KillTree(ctx, "vm1", ex.Procs); err != nil {
		t.Fatal(err)
	}
	if err := f.d.Cleanup(ctx, "vm1"); err != nil {
		t.Fatal(err)
	}
	if s := staleFiles(t, f.dir("vm1")); len(s) > 0 {
		t.Errorf("stale files after cleanup: %v", s)
	}
}

// killAgentGroup SIGKILLs the agent's whole group, as a crash of the agent
// (or `kill -9 -PGID`) does: QEMU, in a group of its own, lives on.
func killAgentGroup(t *testing.T, agent drivers.Proc) {
	t.Helper()
	if err := syscall.Kill(-agent.Group, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "agent gone after SIGKILL", func() bool { return gone(agent) })
}

// The orphan: the agent is killed, its QEMU stand-in lives on. Lookup says
// Gone and names the orphan even with no driver recorded; Spawn and
// Cleanup refuse while it lives; KillTree kills it by identity; then all is
// well again.
func TestOrphanedDriver(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	spec := f.spec("", env{"LIFELINE_SIM_ORPHAN_DRIVER": "1"})
	procs := f.spawn("vm1", spec)
	r := f.watch("vm1", spec, procs)
	full := r.wait(t, drivers.ObsIdentity).Procs
	r.wait(t, drivers.ObsRunning)
	killAgentGroup(t, procs.Agent)
	r.wait(t, drivers.ObsExited)
	if gone(full.VMProcess) {
		t.Fatal("the driver child died with its agent; want an orphan")
	}
	ctx := context.Background()

	// Recovery with only the agent recorded (the daemon died before the
	// identity observation was recorded).
	live, found, err := f.d.Lookup(ctx, "vm1", spec, drivers.Procs{Agent: procs.Agent}, time.Time{})
	if err != nil || live != drivers.Gone || found.VMProcess.PID != full.VMProcess.PID || found.VMProcess.StartTime != full.VMProcess.StartTime {
		t.Fatalf("Lookup = %s, %+v, %v; want gone with the orphan %+v", live, found, err, full.VMProcess)
	}
	_, err = f.d.Spawn(ctx, "vm1", spec)
	if !errors.Is(err, lima.ErrDriverAlive) || !strings.Contains(err.Error(), strconv.Itoa(full.VMProcess.PID)) {
		t.Fatalf("Spawn over an orphaned driver: %v; want ErrDriverAlive naming pid %d", err, full.VMProcess.PID)
	}
	if err := f.d.Cleanup(ctx, "vm1"); !errors.Is(err, lima.ErrDriverAlive) {
		t.Fatalf("Cleanup with an orphan alive: %v; want ErrDriverAlive", err)
	}
	// The engine's reap: KillTree with what it recorded (here only the
	// agent: the driver is found by qemu.pid and the start time).
	if err := f.d.KillTree(ctx, "vm1", drivers.Procs{Agent: procs.Agent}); err != nil {
		t.Fatal(err)
	}
	if !gone(full.VMProcess) || groupAlive(full.VMProcess.Group) {
		t.Fatalf("orphan %d survived KillTree", full.VMProcess.PID)
	}
	if err := f.d.Cleanup(ctx, "vm1"); err != nil {
		t.Fatal(err)
	}
	next := f.spawn("vm1", f.spec("", nil))
	r2 := f.watch("vm1", spec, next)
	r2.wait(t, drivers.ObsRunning)
}

// Lima's trap, replayed: an orphaned QEMU; a host agent started by hand
// over it (agent-sim with LIFELINE_SIM_EXIT_ZERO_LEAVING_DRIVER) removes
// qemu.pid and exits 0. The next Spawn still refuses, naming the orphan's
// pid from the identity the driver remembered.
func TestTrapExitZeroLeavingDriver(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	spec := f.spec("", env{"LIFELINE_SIM_ORPHAN_DRIVER": "1"})
	procs := f.spawn("vm1", spec)
	r := f.watch("vm1", spec, procs)
	full := r.wait(t, drivers.ObsIdentity).Procs
	r.wait(t, drivers.ObsRunning)
	killAgentGroup(t, procs.Agent)
	r.wait(t, drivers.ObsExited)

	dir := f.dir("vm1")
	trap := exec.Command(lifelineBin, "agent-sim", "--pidfile", filepath.Join(dir, filenames.HostAgentPID),
		"--socket", filepath.Join(dir, filenames.HostAgentSock), "vm1")
	trap.Env = append(os.Environ(), "LIFELINE_SIM_EXIT_ZERO_LEAVING_DRIVER=1", "LIMA_HOME="+f.home)
	// In the instance directory, as Lima runs its host agent: the trap's
	// driver child, which outlives it, works there too, and the fixture's
	// cleanup kills only what works under its home (it leaked before).
	trap.Dir = dir
	stderr, err := os.Create(filepath.Join(dir, "trap.stderr.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	trap.Stderr = stderr
	if err := trap.Run(); err != nil {
		t.Fatalf("trap agent: %v; want exit 0", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "qemu.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("qemu.pid after the trap: %v; want it removed", err)
	}
	if gone(full.VMProcess) {
		t.Fatal("the orphan died")
	}
	ctx := context.Background()
	_, err = f.d.Spawn(ctx, "vm1", spec)
	if !errors.Is(err, lima.ErrDriverAlive) || !strings.Contains(err.Error(), strconv.Itoa(full.VMProcess.PID)) {
		t.Fatalf("Spawn after the trap: %v; want ErrDriverAlive naming the orphan %d", err, full.VMProcess.PID)
	}
	if err := f.d.KillTree(ctx, "vm1", full); err != nil {
		t.Fatal(err)
	}
	if !gone(full.VMProcess) {
		t.Fatal("orphan survived KillTree")
	}
	// The trap agent's own driver child, which nobody can know from Lima's
	// files, goes with the fixture's cleanup (its pid is in its log).
	if err := f.d.Cleanup(ctx, "vm1"); err != nil {
		t.Fatal(err)
	}
	next := f.spawn("vm1", f.spec("", nil))
	f.watch("vm1", spec, next).wait(t, drivers.ObsRunning)
}

// The knob through the driver: an agent that exits 0 while starting is an
// exit, never a start (the engine records start_failed).
func TestExitZeroWhileStarting(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	spec := f.spec("", env{"LIFELINE_SIM_EXIT_ZERO_LEAVING_DRIVER": "1"})
	procs := f.spawn("vm1", spec)
	r := f.watch("vm1", spec, procs)
	ex := r.wait(t, drivers.ObsExited)
	if ex.Code != 0 || !strings.Contains(ex.Reason, `after "exiting"`) {
		t.Errorf("exit %d %q", ex.Code, ex.Reason)
	}
	if r.index(drivers.ObsRunning) >= 0 {
		t.Errorf("running reported: %s", describe(r.all()))
	}
}

// Cleanup lists the directory: a LIMA_HOME with '[' and ']' (a glob's
// character class) is cleaned all the same, and only runtime files go.
func TestCleanupBracketsInPath(t *testing.T) {
	t.Parallel()
	home := filepath.Join(t.TempDir(), "lima[1]x")
	f := newFixtureAt(t, home)
	spec := f.spec("", env{"LIFELINE_SIM_CRASH_AFTER": "200ms"})
	procs := f.spawn("vm1", spec)
	r := f.watch("vm1", spec, procs)
	ex := r.wait(t, drivers.ObsExited)
	dir := f.dir("vm1")
	for _, extra := range []string{"x.tmp", "[a].sock", "keep.log"} {
		if err := os.WriteFile(filepath.Join(dir, extra), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	before := staleFiles(t, dir)
	if len(before) < 4 {
		t.Fatalf("want ha.pid, ha.sock, qemu.pid and the extras before cleanup, have %v", before)
	}
	ctx := context.Background()
	if err := f.d.KillTree(ctx, "vm1", ex.Procs); err != nil {
		t.Fatal(err)
	}
	if err := f.d.Cleanup(ctx, "vm1"); err != nil {
		t.Fatal(err)
	}
	if s := staleFiles(t, dir); len(s) > 0 {
		t.Errorf("left after cleanup: %v", s)
	}
	if _, err := os.Stat(filepath.Join(dir, "keep.log")); err != nil {
		t.Errorf("cleanup removed keep.log: %v", err)
	}
}

// With no agent recorded, Lookup finds it through ha.pid, but only one that
// started after since.
func TestLookupDiscoversAgentFromPIDFile(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	before := time.Now()
	spec := f.spec("", nil)
	procs := f.spawn("vm1", spec)
	haPID := filepath.Join(f.dir("vm1"), filenames.HostAgentPID)
	eventually(t, "ha.pid written", func() bool {
		b, err := os.ReadFile(haPID)
		return err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(procs.Agent.PID)
	})
	ctx := context.Background()
	live, found, err := f.d.Lookup(ctx, "vm1", spec, drivers.Procs{}, before)
	if err != nil || live == drivers.Gone {
		t.Fatalf("Lookup = %s, %v; want the agent found", live, err)
	}
	if found.Agent.PID != procs.Agent.PID || found.Agent.StartTime != procs.Agent.StartTime || found.Agent.Group != procs.Agent.Group {
		t.Errorf("found %+v, want %+v", found.Agent, procs.Agent)
	}
	live, _, err = f.d.Lookup(ctx, "vm1", spec, drivers.Procs{}, time.Now().Add(time.Hour))
	if err != nil || live != drivers.Gone {
		t.Errorf("Lookup with since after the agent started = %s, %v; want gone", live, err)
	}
	// A recorded identity that does not match (a recycled pid) is gone.
	other := procs.Agent
	other.StartTime--
	live, _, err = f.d.Lookup(ctx, "vm1", spec, drivers.Procs{Agent: other}, time.Time{})
	if err != nil || live != drivers.Gone {
		t.Errorf("Lookup of a mismatched identity = %s, %v; want gone", live, err)
	}
}

// Remove refuses while the agent runs and deletes the instance after.
func TestRemoveRefusesLiveAgent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	spec := f.spec("", nil)
	procs := f.spawn("vm1", spec)
	ctx := context.Background()
	if err := f.d.Remove(ctx, "vm1"); !errors.Is(err, lima.ErrAgentAlive) {
		t.Fatalf("Remove with a live agent: %v; want ErrAgentAlive", err)
	}
	if err := f.d.KillTree(ctx, "vm1", procs); err != nil {
		t.Fatal(err)
	}
	if err := f.d.Remove(ctx, "vm1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.dir("vm1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("instance dir after Remove: %v", err)
	}
}

// The agent gets Lima's command line: --debug when asked, and the
// environment: LIMA_HOME and the spec's variables.
func TestCommandLineAndEnvironment(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	script := filepath.Join(home, "agent.sh")
	out := filepath.Join(home, "seen")
	// A stand-in that records its argv and environment and exits.
	body := "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + out + ".args\nenv > " + out + ".env\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := lima.New(lima.Options{LimaHome: home, HostAgentCmd: []string{script, "hostagent"}, Debug: true})
	if err != nil {
		t.Fatal(err)
	}
	spec := drivers.Spec{Template: []byte("vmType: qemu\n"), Env: map[string]string{"QEMU_SYSTEM_X86_64": "qemu-system-x86_64 -accel tcg"}}
	ctx := context.Background()
	if err := d.Define(ctx, "vm1", spec); err != nil {
		t.Fatal(err)
	}
	procs, err := d.Spawn(ctx, "vm1", spec)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "stand-in exited", func() bool { return gone(procs.Agent) })
	eventually(t, "stand-in wrote its environment", func() bool {
		b, err := os.ReadFile(out + ".env")
		return err == nil && strings.Contains(string(b), "PATH=")
	})
	args, _ := os.ReadFile(out + ".args")
	dir := filepath.Join(home, "vm1")
	want := strings.Join([]string{"hostagent", "--pidfile", filepath.Join(dir, "ha.pid"), "--socket", filepath.Join(dir, "ha.sock"), "--debug", "vm1"}, "\n") + "\n"
	if string(args) != want {
		t.Errorf("argv:\n%s\nwant:\n%s", args, want)
	}
	envs, _ := os.ReadFile(out + ".env")
	for _, kv := range []string{"LIMA_HOME=" + home, "QEMU_SYSTEM_X86_64=qemu-system-x86_64 -accel tcg"} {
		if !strings.Contains(string(envs), kv+"\n") {
			t.Errorf("environment lacks %q", kv)
		}
	}
	bad := spec
	bad.Env = map[string]string{"LIMA_HOME": "/elsewhere"}
	if _, err := d.Spawn(ctx, "vm1", bad); !errors.Is(err, lima.ErrBadSpec) {
		t.Errorf("Spawn with another LIMA_HOME: %v; want ErrBadSpec", err)
	}
}

// ready: agent runs the VM before its guest reported; a guest that then
// reports running degraded is an ObsFailed with Degraded set, which the
// engine shows in status while the VM runs (the watch reads the events
// until the guest reported, not only until the VM is up).
func TestReadyAgentReportsDegradedGuest(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	spec := f.spec(lima.ReadyAgent, env{"LIFELINE_SIM_START_DELAY": "1s", "LIFELINE_SIM_DEGRADED": "port forwarding failed"})
	procs := f.spawn("vm1", spec)
	r := f.watch("vm1", spec, procs)
	r.wait(t, drivers.ObsRunning)
	fail := r.wait(t, drivers.ObsFailed)
	if !fail.Degraded || fail.Reason != "degraded: port forwarding failed" {
		t.Errorf("failure after running: degraded %v, reason %q; want true, %q", fail.Degraded, fail.Reason, "degraded: port forwarding failed")
	}
	if r.index(drivers.ObsRunning) > r.index(drivers.ObsFailed) {
		t.Errorf("want running (the socket) before the degraded report: %s", describe(r.all()))
	}
}

// A user's `limactl start` after the recorded agent died: a new host
// agent (ha.pid) and its QEMU (qemu.pid, started after the recorded
// agent). Lookup of the recorded agent says Gone and does not take the new
// agent's QEMU for the dead one's left-over; KillTree with the recorded
// agent leaves both running. Before, qemu.pid's QEMU, started after the
// recorded agent, was returned for the engine to record in its lost record
// and killed by the reap: the user's VM, killed by recovery.
func TestGoneAgentDoesNotClaimANewAgentsDriver(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	spec := f.spec("", nil)
	old := f.spawn("vm1", spec)
	r := f.watch("vm1", spec, old)
	oldFull := r.wait(t, drivers.ObsIdentity).Procs
	r.wait(t, drivers.ObsRunning)
	killAgentGroup(t, old.Agent)
	r.wait(t, drivers.ObsExited)
	ctx := context.Background()
	// The old VM's QEMU is gone too (reaped, or it ended with its guest).
	if err := f.d.KillTree(ctx, "vm1", oldFull); err != nil || !gone(oldFull.VMProcess) {
		t.Fatalf("kill the old QEMU stand-in %d: %v", oldFull.VMProcess.PID, err)
	}
	if err := f.d.Cleanup(ctx, "vm1"); err != nil {
		t.Fatal(err)
	}
	// Someone else starts the instance: a new agent and its QEMU.
	next := f.spawn("vm1", spec)
	r2 := f.watch("vm1", spec, next)
	full := r2.wait(t, drivers.ObsIdentity).Procs
	r2.wait(t, drivers.ObsRunning)
	// limactl keeps no note of its QEMU for lifeline: the file this
	// driver writes for the QEMU of an agent it watches goes.
	if err := os.Remove(filepath.Join(f.dir("vm1"), lima.RememberedDriverFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}

	live, found, err := f.d.Lookup(ctx, "vm1", spec, drivers.Procs{Agent: old.Agent}, time.Time{})
	if err != nil || live != drivers.Gone || !found.VMProcess.IsZero() {
		t.Fatalf("Lookup of the dead agent = %s, %+v, %v; want gone, with no VM process (qemu.pid names the new agent's %d)", live, found, err, full.VMProcess.PID)
	}
	if err := f.d.KillTree(ctx, "vm1", drivers.Procs{Agent: old.Agent}); err != nil {
		t.Fatal(err)
	}
	if gone(full.VMProcess) || gone(next.Agent) {
		t.Fatalf("KillTree of the dead agent killed the new agent %d or its QEMU %d", next.Agent.PID, full.VMProcess.PID)
	}
	if err := f.d.KillTree(ctx, "vm1", full); err != nil {
		t.Fatal(err)
	}
}
