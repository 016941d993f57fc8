//go:build linux

package limae2e

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/lima"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// lifelineFiles are the instance files lifeline could write: their
// bytes and mtimes must not change on import or release.
var lifelineFiles = []string{"lima.yaml", "lima-version", "ha.pid", "qemu.pid"}

// instanceState is the size, mtime and hash of each of lifelineFiles in
// dir, and whether a file only lifeline writes exists.
func instanceState(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	for _, name := range lifelineFiles {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", name, err)
			continue
		}
		data, _ := os.ReadFile(filepath.Join(dir, name))
		fmt.Fprintf(&b, "%s %d %s %x\n", name, fi.Size(), fi.ModTime().UTC().Format(time.RFC3339Nano), sha256.Sum256(data))
	}
	for _, name := range []string{lima.RememberedDriverFile, "ha.stdout.log.1", "ha.stderr.log.1"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			fmt.Fprintf(&b, "%s exists\n", name)
		}
	}
	return b.String()
}

// Issue 11 item 2 on real Lima: an instance `limactl create` made and
// `limactl start` started (a blank disk: its agent and QEMU run, no guest
// boots, so limactl start is left waiting and killed, its host agent lives
// on) → lifeline import: adopted Running with the agent and QEMU of
// ha.pid and qemu.pid, nothing of the instance written → lifeline release:
// lifeline forgets it, limactl list still Running, both processes alive →
// import again → lifeline stop (graceful) → Stopped, limactl list Stopped
// → release of the stopped VM → limactl delete.
func TestScenarioImportRelease(t *testing.T) {
	s := setup(t)
	const vm = "im"
	s.stopForceOnFailure(t, vm)
	start := time.Now()
	tmplFile := filepath.Join(s.dir, vm+".yaml")
	if err := os.WriteFile(tmplFile, s.spec(t).Template, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, d, err := s.runLimactl(t, "create", "--tty=false", "--name="+vm, tmplFile); err != nil {
		t.Fatalf("limactl create: %v\n%s", err, out)
	} else {
		t.Logf("limactl create %s: %v", vm, d.Round(time.Millisecond))
	}
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
	stopLimactl := func() {
		if lc.Process != nil {
			_ = lc.Process.Kill()
			<-waited
			lc.Process = nil
		}
	}
	defer func() { stopLimactl(); t.Logf("limactl start %s said:\n%s", vm, out.String()) }()
	for s.limaStatus(t, vm) != "Running" {
		if time.Since(t0) > startBound {
			t.Fatalf("limactl list does not say Running after %v", startBound)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("limactl start → limactl list Running after %v", time.Since(t0).Round(time.Millisecond))
	stopLimactl() // it waits for a guest a blank disk never boots

	dir := filepath.Join(s.limaHome, vm)
	before := instanceState(t, dir)
	h := startHost(t, s, s.config(vm, 5*time.Second), 1)
	h.do(Command{Op: "import", VM: vm, Spec: drivers.Spec{Ready: lima.ReadyAgent}})
	r := h.wait(vm, 0, 30*time.Second, "Running", to(states.Running))
	if r.Event != states.Adopted || r.Cause.Kind != store.CauseImported || r.Agent.IsZero() || r.VMProcess.IsZero() {
		t.Fatalf("import: %s %s→%s %s %q; want adopted imported with both identities\n%s", r.Event, r.From, r.To, r.Cause.Kind, r.Reason, h.history())
	}
	for _, c := range []struct {
		file string
		want store.Proc
	}{{"ha.pid", r.Agent}, {"qemu.pid", r.VMProcess}} {
		if got := strings.TrimSpace(readFile(filepath.Join(dir, c.file))); got != strconv.Itoa(c.want.PID) {
			t.Errorf("%s names %q, lifeline adopted pid %d", c.file, got, c.want.PID)
		}
	}
	if after := instanceState(t, dir); after != before {
		t.Errorf("the import changed the instance:\nbefore:\n%safter:\n%s", before, after)
	}
	if st := s.limaStatus(t, vm); st != "Running" {
		t.Errorf("limactl list says %s after the import, lifeline Running", st)
	}
	p := drivers.Procs{Agent: r.Agent, VMProcess: r.VMProcess}

	before = instanceState(t, dir)
	last := h.lastSeq()
	h.do(Command{Op: "release", VM: vm})
	r = h.wait(vm, last, 10*time.Second, "Absent", to(states.Absent))
	if r.Event != states.Release || r.From != states.Running || r.Cause.Kind != store.CauseReleased {
		t.Errorf("release: %s %s→%s %s", r.Event, r.From, r.To, r.Cause.Kind)
	}
	time.Sleep(2 * engine.DefaultOutsidePoll) // the host's engine looks for starts from outside: it must not adopt it
	if got := h.lastSeq(); got != r.Seq {
		t.Errorf("recorded more after the release:\n%s", h.history())
	}
	if st := s.limaStatus(t, vm); st != "Running" || !alive(p.Agent) || !alive(p.VMProcess) {
		t.Errorf("after release: limactl list %s, agent alive %v, QEMU alive %v; want Running and both alive", st, alive(p.Agent), alive(p.VMProcess))
	}
	if after := instanceState(t, dir); after != before {
		t.Errorf("the release changed the instance:\nbefore:\n%safter:\n%s", before, after)
	}

	last = h.lastSeq()
	h.do(Command{Op: "import", VM: vm, Spec: drivers.Spec{Ready: lima.ReadyAgent}})
	h.wait(vm, last, 30*time.Second, "Running", to(states.Running))
	last = h.lastSeq()
	h.do(Command{Op: "stop", VM: vm})
	h.wait(vm, last, stopBound, "Stopped", to(states.Stopped))
	s.checkClean(t, vm, p)
	last = h.lastSeq()
	h.do(Command{Op: "release", VM: vm})
	h.wait(vm, last, 10*time.Second, "Absent", to(states.Absent))
	if st := s.limaStatus(t, vm); st != "Stopped" {
		t.Errorf("limactl list says %s after the release of the stopped VM, want Stopped", st)
	}
	h.close()
	if out, _, err := s.runLimactl(t, "delete", vm); err != nil {
		t.Errorf("limactl delete %s: %v\n%s", vm, err, out)
	}
	s.report(t, "import and release (limactl create + start → import adopted → release → import → lifeline stop → release → limactl delete)", start)
}
