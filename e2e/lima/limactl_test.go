//go:build linux

package limae2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// Living with limactl (issue 11, item 1): a user stops a VM lifeline runs
// with `limactl stop` (or `limactl stop -f`); lifeline records a stop from
// outside, not a crash, and its restart policy does not fight the user.

// noRestartFor is how long a VM stopped from outside must stay as it is:
// five times the restart policy's first backoff.
const noRestartFor = 5 * engine.DefaultRestartBackoff

// debianBootBound bounds the Debian guest's boot under TCG: 50-160 s on an
// idle machine, over 10 minutes on a loaded one (measured: load 15-26 on 2
// cores).
const debianBootBound = 20 * time.Minute

// runtimeFiles lists dir's *.pid, *.sock and *.tmp.
func runtimeFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		for _, suf := range []string{".pid", ".sock", ".tmp"} {
			if strings.HasSuffix(e.Name(), suf) {
				out = append(out, e.Name())
			}
		}
	}
	return out
}

// runLimactl runs limactl with args (LIMA_HOME from the environment) and
// returns its combined output and how long it took.
func (s *suite) runLimactl(t *testing.T, args ...string) (string, time.Duration, error) {
	t.Helper()
	t0 := time.Now()
	out, err := exec.Command(s.limactl, args...).CombinedOutput()
	return string(out), time.Since(t0), err
}

// stopForceOnFailure makes a failed scenario end vm the way a user would,
// with `limactl stop -f`, so that its QEMU does not outlive the test.
func (s *suite) stopForceOnFailure(t *testing.T, vm string) {
	t.Cleanup(func() {
		if t.Failed() {
			out, _, err := s.runLimactl(t, "stop", "-f", vm)
			t.Logf("cleanup: limactl stop -f %s: %v\n%s", vm, err, out)
		}
	})
}

// limaStatus is what `limactl list` says of vm.
func (s *suite) limaStatus(t *testing.T, vm string) string {
	t.Helper()
	out, err := exec.Command(s.limactl, "list", "--format", "{{.Status}}", vm).Output()
	if err != nil {
		t.Fatalf("limactl list %s: %v", vm, err)
	}
	return strings.TrimSpace(string(out))
}

// stoppedOutside waits for vm's stop from outside after seq and checks it:
// stopped_outside Running → Stopped, its reason naming want; then nothing
// more is recorded for noRestartFor (the restart policy would have
// restarted a crash after 1 s), and limactl agrees it is Stopped.
func (s *suite) stoppedOutside(t *testing.T, h *host, vm string, after uint64, want string) store.Record {
	t.Helper()
	r := h.wait(vm, after, stopBound, "Stopped", func(r store.Record) bool { return r.From == states.Running })
	if r.Event != states.StoppedOutside || r.To != states.Stopped || !strings.Contains(r.Reason, want) {
		t.Fatalf("%s: %s %s→%s %q; want stopped_outside Running→Stopped naming %s\n%s", vm, r.Event, r.From, r.To, r.Reason, want, h.history())
	}
	hold := time.Now().Add(noRestartFor)
	for time.Now().Before(hold) {
		if last := h.lastSeq(); last != r.Seq {
			t.Fatalf("%s: recorded more after the stop from outside:\n%s", vm, h.history())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st := s.limaStatus(t, vm); st != "Stopped" {
		t.Errorf("%s: limactl list says %s after the stop from outside, lifeline Stopped", vm, st)
	}
	return r
}

// A blank disk with restart on-failure: lifeline start → `limactl stop -f`
// (QEMU and the host agent SIGKILLed, the files removed) → Stopped by
// stopped_outside, no restart; lifeline starts it again, stops it.
func TestScenarioLimactlStopForce(t *testing.T) {
	s := setup(t)
	const vm = "sf"
	s.stopForceOnFailure(t, vm)
	start := time.Now()
	h := startHost(t, s, s.config(vm, 5*time.Second), 1)
	spec := s.spec(t)
	spec.Restart = engine.RestartOnFailure
	h.do(Command{Op: "create", VM: vm, Spec: spec})
	h.do(Command{Op: "start", VM: vm})
	h.waitRunning(vm, 0, startBound)
	p := h.procs(vm)
	if st := s.limaStatus(t, vm); st != "Running" {
		t.Errorf("limactl list says %s, lifeline Running", st)
	}

	before := h.lastSeq()
	out, took, err := s.runLimactl(t, "stop", "-f", vm)
	if err != nil {
		t.Fatalf("limactl stop -f %s: %v\n%s", vm, err, out)
	}
	t.Logf("limactl stop -f: %v", took.Round(time.Millisecond))
	r := s.stoppedOutside(t, h, vm, before, "removed by someone else")
	t.Logf("lifeline: %s %s→%s %q", r.Event, r.From, r.To, r.Reason)
	s.checkClean(t, vm, p)

	// lifeline starts it again: nothing of the old run is in the way.
	before = h.lastSeq()
	h.do(Command{Op: "start", VM: vm})
	h.waitRunning(vm, before, startBound)
	p2 := h.procs(vm)
	before = h.lastSeq()
	h.do(Command{Op: "stop", VM: vm, Force: true})
	h.wait(vm, before, stopBound, "Stopped", to(states.Stopped))
	s.checkClean(t, vm, p2)
	h.close()
	s.report(t, "limactl stop -f (blank disk, restart on-failure: stopped_outside, no restart, start again)", start)
}

// The Debian guest with restart on-failure: lifeline start → Running
// (limactl list Running) → `limactl stop` (the guest powers off, the host
// agent says "exiting" and exits 0) → Stopped by stopped_outside, no
// restart, nothing of the VM left running. (A second start after a stop
// from outside is TestScenarioLimactlStopForce's: one TCG boot of this
// guest takes minutes.)
func TestScenarioDebianLimactlStop(t *testing.T) {
	s := setup(t)
	img := os.Getenv(envDebian)
	if img == "" {
		t.Skipf("set %s (e2e/lima/scenario4-debian.sh builds the guest and runs this)", envDebian)
	}
	const vm = "sl"
	s.stopForceOnFailure(t, vm)
	spec := s.debianSpec(t, img)
	spec.Restart = engine.RestartOnFailure
	start := time.Now()
	cfg := s.config(vm, 2*time.Minute)
	cfg.StartTimeout = debianBootBound
	h := startHost(t, s, cfg, 1)
	h.do(Command{Op: "create", VM: vm, Spec: spec})
	h.do(Command{Op: "start", VM: vm})
	running := h.waitRunning(vm, 0, debianBootBound+time.Minute)
	p := h.procs(vm)
	t.Logf("lifeline: Running after %v (%q)", time.Since(start).Round(time.Second), running.Reason)
	if st := s.limaStatus(t, vm); st != "Running" {
		t.Errorf("limactl list says %s, lifeline Running", st)
	}

	before := h.lastSeq()
	out, took, err := s.runLimactl(t, "stop", vm)
	if err != nil {
		t.Fatalf("limactl stop %s: %v\n%s", vm, err, out)
	}
	t.Logf("limactl stop: exit 0 after %v", took.Round(100*time.Millisecond))
	r := s.stoppedOutside(t, h, vm, before, `"Received SIGINT, shutting down the host agent"`)
	if !strings.Contains(r.Reason, `exit status 0, after "exiting"`) {
		t.Errorf("reason %q: want the host agent's exit 0 after \"exiting\"", r.Reason)
	}
	t.Logf("lifeline: %s %s→%s %q", r.Event, r.From, r.To, r.Reason)
	for _, q := range []drivers.Proc{p.Agent, p.VMProcess} {
		if alive(q) {
			t.Errorf("pid %d runs after limactl stop", q.PID)
		}
	}
	if left := leftovers(t, s.limaHome); len(left) > 0 {
		t.Errorf("processes of LIMA_HOME still run: %v", left)
	}

	// What Lima's graceful stop left (lifeline cleans nothing after a stop
	// from outside; its next spawn clears stale files, as limactl's does).
	t.Logf("left in the instance directory: %v", runtimeFiles(t, s.limaHome+"/"+vm))
	h.close()
	s.report(t, "limactl stop (Debian guest, restart on-failure: stopped_outside, no restart)", start)
}

// A blank disk: lifeline start → lifeline stop → `limactl start` (run as a
// user runs it; it waits for a guest a blank disk never boots, so it is
// left waiting in the background and killed once lifeline adopted the VM,
// its host agent in a session of its own lives on) → lifeline Running by
// adopted, both identities those of ha.pid and qemu.pid, limactl list
// Running → lifeline stop → Stopped, nothing left, limactl list Stopped →
// `limactl delete` → lifeline records deleted_outside and lists nothing.
func TestScenarioLimactlStartAdopted(t *testing.T) {
	s := setup(t)
	const vm = "sa"
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
	h.do(Command{Op: "stop", VM: vm, Force: true})
	h.wait(vm, before, stopBound, "Stopped", to(states.Stopped))
	s.checkClean(t, vm, p)

	before = h.lastSeq()
	t0 := time.Now()
	lc := exec.Command(s.limactl, "start", "--tty=false", vm)
	lc.Env = os.Environ()
	if s.qemuEnv != "" {
		lc.Env = append(lc.Env, "QEMU_SYSTEM_X86_64="+s.qemuEnv)
	}
	var out strings.Builder
	lc.Stdout, lc.Stderr = &out, &out
	if err := lc.Start(); err != nil {
		t.Fatalf("limactl start %s: %v", vm, err)
	}
	waited := make(chan error, 1)
	go func() { waited <- lc.Wait() }()
	defer func() {
		_ = lc.Process.Kill()
		<-waited
		t.Logf("limactl start %s said:\n%s", vm, out.String())
	}()
	r := h.wait(vm, before, startBound, "Running", func(r store.Record) bool { return r.To != states.Stopped })
	t.Logf("limactl start → lifeline %s (%s) after %v", r.Event, r.Reason, time.Since(t0).Round(time.Millisecond))
	if r.Event != states.Adopted || r.Cause.Kind != store.CauseStartedOutside || r.Agent.IsZero() || r.VMProcess.IsZero() {
		t.Fatalf("after limactl start: %s %s→%s %s %q; want adopted Stopped→Running started_outside with both identities\n%s", r.Event, r.From, r.To, r.Cause.Kind, r.Reason, h.history())
	}
	dir := filepath.Join(s.limaHome, vm)
	for _, c := range []struct {
		file string
		want store.Proc
	}{{"ha.pid", r.Agent}, {"qemu.pid", r.VMProcess}} {
		if got := strings.TrimSpace(readFile(filepath.Join(dir, c.file))); got != strconv.Itoa(c.want.PID) {
			t.Errorf("%s names %q, lifeline adopted pid %d", c.file, got, c.want.PID)
		}
	}
	if st := s.limaStatus(t, vm); st != "Running" {
		t.Errorf("limactl list says %s, lifeline Running (adopted)", st)
	}
	p2 := drivers.Procs{Agent: r.Agent, VMProcess: r.VMProcess}

	before = h.lastSeq()
	h.do(Command{Op: "stop", VM: vm})
	h.wait(vm, before, stopBound, "Stopped", to(states.Stopped))
	s.checkClean(t, vm, p2)

	before = h.lastSeq()
	if out, _, err := s.runLimactl(t, "delete", vm); err != nil {
		t.Fatalf("limactl delete %s: %v\n%s", vm, err, out)
	}
	r = h.wait(vm, before, 30*time.Second, "Absent", to(states.Absent))
	if r.Event != states.Delete || r.Cause.Kind != store.CauseDeletedOutside {
		t.Errorf("after limactl delete: %s %s %q; want delete deleted_outside", r.Event, r.Cause.Kind, r.Reason)
	}
	h.close()
	s.report(t, "limactl start adopted (blank disk: lifeline start, stop, limactl start → adopted, lifeline stop, limactl delete)", start)
}
