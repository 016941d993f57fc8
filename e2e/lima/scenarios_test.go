//go:build linux

package limae2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/lima"
	"github.com/lifeline-vm/lifeline/drivers/lima/limaprep"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

func guestAgent(limactl string) (string, error) {
	return limaprep.GuestAgentBinary(limactl, "Linux", "x86_64")
}

// Scenario 1: blank disk, ready: agent. Start → Running; stop with a 5 s
// graceful timeout → ForceStopping (Lima would wait 3 minutes for a
// power-down nobody answers) → Stopped; no QEMU left, no stale sockets.
func TestScenario1BlankDiskReadyAgent(t *testing.T) {
	s := setup(t)
	const vm = "s1"
	s.stopForceOnFailure(t, vm)
	start := time.Now()
	h := startHost(t, s, s.config(vm, 5*time.Second), 1)
	h.do(Command{Op: "create", VM: vm, Spec: s.spec(t)})
	h.do(Command{Op: "start", VM: vm})
	h.waitRunning(vm, 0, startBound)
	p := h.procs(vm)
	t.Logf("running after %v: host agent %d, QEMU %d", time.Since(start).Round(time.Millisecond), p.Agent.PID, p.VMProcess.PID)
	if !alive(p.Agent) || !alive(p.VMProcess) || p.VMProcess.Group == p.Agent.Group {
		t.Fatalf("want a live host agent and a live QEMU in its own group: %+v", p)
	}
	if got := strings.TrimSpace(readFile(s.limaHome + "/" + vm + "/qemu.pid")); got != strconv.Itoa(p.VMProcess.PID) {
		t.Errorf("qemu.pid = %q, recorded QEMU %d", got, p.VMProcess.PID)
	}
	s.wantLimaEvent(t, vm)

	stopAt := time.Now()
	h.do(Command{Op: "stop", VM: vm})
	stopping := h.wait(vm, 0, stopBound, "Stopping", to(states.Stopping))
	forced := h.wait(vm, stopping.Seq, stopBound, "ForceStopping", to(states.ForceStopping))
	if forced.Event != states.StopTimeout {
		t.Errorf("ForceStopping by %s, want stop_timeout", forced.Event)
	}
	if late := forced.Time.Sub(stopping.Deadline); late < 0 || late > 2*time.Second {
		t.Errorf("escalated %v after the graceful deadline", late)
	}
	stopped := h.wait(vm, forced.Seq, stopBound, "Stopped", to(states.Stopped))
	t.Logf("stopped %v after the stop (graceful 5 s, terminate grace 2 s): %s", stopped.Time.Sub(stopAt).Round(time.Millisecond), stopped.Reason)
	s.checkClean(t, vm, p)
	h.close()
	s.report(t, "scenario 1 (blank disk, ready: agent, forced stop)", start)
}

// Scenario 2: the engine's process and the host agent are SIGKILLed; QEMU
// lives on, orphaned. A new engine finds the agent gone: lost (Broken),
// QEMU killed by its recorded identity. Reset, start again: no lock
// failure.
func TestScenario2KilledEngineOrphanedQEMU(t *testing.T) {
	s := setup(t)
	const vm = "s2"
	s.stopForceOnFailure(t, vm)
	start := time.Now()
	cfg := s.config(vm, 5*time.Second)
	h := startHost(t, s, cfg, 1)
	h.do(Command{Op: "create", VM: vm, Spec: s.spec(t)})
	h.do(Command{Op: "start", VM: vm})
	h.waitRunning(vm, 0, startBound)
	p := h.procs(vm)
	if p.VMProcess.IsZero() {
		t.Fatal("no QEMU identity recorded")
	}

	h.kill()
	if err := syscall.Kill(-p.Agent.Group, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "host agent gone", 10*time.Second, func() bool { return !alive(p.Agent) })
	if !alive(p.VMProcess) {
		t.Fatal("QEMU died with its host agent; the scenario needs the orphan Lima leaves")
	}
	t.Logf("engine host and host agent %d SIGKILLed; QEMU %d orphaned and alive", p.Agent.PID, p.VMProcess.PID)

	// Lima's trap: a new host agent over the orphan would fail on its
	// locks, remove qemu.pid, exit 0 and leak it. The driver refuses.
	drv, err := lima.New(lima.Options{LimaHome: s.limaHome, HostAgentCmd: []string{s.limactl, "hostagent"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = drv.Spawn(context.Background(), vm, s.spec(t))
	if !errors.Is(err, lima.ErrDriverAlive) || !strings.Contains(err.Error(), strconv.Itoa(p.VMProcess.PID)) {
		t.Fatalf("Spawn over the orphaned QEMU: %v; want ErrDriverAlive naming pid %d", err, p.VMProcess.PID)
	}
	t.Logf("Spawn over the orphan refused: %v", err)

	h2 := startHost(t, s, cfg, 2)
	lost := h2.wait(vm, h.lastSeq(), time.Minute, "lost", func(r store.Record) bool { return r.To == states.Broken })
	if lost.Event != states.Lost || !strings.Contains(lost.Reason, "gone") {
		t.Errorf("Broken by %s %q; want lost, agent gone", lost.Event, lost.Reason)
	}
	eventually(t, "orphaned QEMU killed by identity", 30*time.Second, func() bool { return !alive(p.VMProcess) })
	t.Logf("recovery: %s %q; orphan QEMU %d killed", lost.Event, lost.Reason, p.VMProcess.PID)

	h2.do(Command{Op: "reset", VM: vm})
	h2.do(Command{Op: "start", VM: vm})
	h2.waitRunning(vm, lost.Seq, startBound)
	p2 := h2.procs(vm)
	if p2.VMProcess.PID == p.VMProcess.PID || !alive(p2.VMProcess) || !alive(p2.Agent) {
		t.Fatalf("after reset and start: %+v (old %+v); want a new live QEMU and agent", p2, p)
	}
	// A QEMU that met the old one's locks would die at once: it must still
	// run a while later, and say nothing about locks.
	hold := time.Now().Add(3 * time.Second)
	for time.Now().Before(hold) {
		if !alive(p2.VMProcess) || !alive(p2.Agent) {
			t.Fatalf("the restarted VM died: %s", readFile(s.limaHome+"/"+vm+"/ha.stdout.log"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	// QEMU says `Failed to get "write" lock` when another holds the disk.
	if log := readFile(s.limaHome + "/" + vm + "/ha.stderr.log"); strings.Contains(log, "Failed to get") {
		t.Errorf("the new QEMU met a lock: %s", grep(log, "Failed to get"))
	}
	before := h2.lastSeq()
	h2.do(Command{Op: "stop", VM: vm, Force: true})
	h2.wait(vm, before, stopBound, "Stopped", func(r store.Record) bool { return r.To == states.Stopped && r.Event == states.Exited })
	s.checkClean(t, vm, p2)
	h2.close()
	s.report(t, "scenario 2 (SIGKILL engine + host agent, orphan QEMU, reset, start)", start)
}

// Scenario 3: the engine's process is SIGKILLed while Stopping; the next
// engine resumes the stop and escalates at the recorded deadline, not a
// new one.
func TestScenario3KilledWhileStopping(t *testing.T) {
	s := setup(t)
	const vm = "s3"
	s.stopForceOnFailure(t, vm)
	const graceful = 20 * time.Second
	start := time.Now()
	cfg := s.config(vm, graceful)
	h := startHost(t, s, cfg, 1)
	h.do(Command{Op: "create", VM: vm, Spec: s.spec(t)})
	h.do(Command{Op: "start", VM: vm})
	h.waitRunning(vm, 0, startBound)
	p := h.procs(vm)

	h.do(Command{Op: "stop", VM: vm})
	stopping := h.wait(vm, 0, stopBound, "Stopping", to(states.Stopping))
	// The interrupt reached the host agent: it is shutting down, waiting
	// for a power-down the blank disk never answers.
	eventually(t, "host agent received SIGINT", 10*time.Second, func() bool {
		return strings.Contains(readFile(s.limaHome+"/"+vm+"/ha.stderr.log"), "shutting down the host agent")
	})
	// Kill the engine half-way through the graceful period, so that a new
	// period counted from the restart would end well after the recorded
	// deadline.
	select {
	case <-time.After(time.Until(stopping.Deadline.Add(-graceful / 2))):
	case <-time.After(graceful):
	}
	h.kill()
	restart := time.Now()
	t.Logf("engine host SIGKILLed while Stopping, %v before the recorded deadline", stopping.Deadline.Sub(restart).Round(time.Millisecond))
	if !alive(p.Agent) || !alive(p.VMProcess) {
		t.Fatal("the host agent or QEMU exited before the deadline; the scenario needs them stopping")
	}

	h2 := startHost(t, s, cfg, 2)
	forced := h2.wait(vm, stopping.Seq, stopBound, "ForceStopping", to(states.ForceStopping))
	if forced.Event != states.StopTimeout {
		t.Errorf("ForceStopping by %s, want stop_timeout", forced.Event)
	}
	late := forced.Time.Sub(stopping.Deadline)
	if late < 0 || late > 2*time.Second {
		t.Errorf("escalated %v after the recorded deadline %s", late, stopping.Deadline.Format(time.RFC3339Nano))
	}
	if forced.Time.After(restart.Add(graceful * 3 / 4)) {
		t.Errorf("escalation at %s: a new graceful period after the restart, not the recorded deadline", forced.Time.Format(time.RFC3339Nano))
	}
	h2.wait(vm, forced.Seq, stopBound, "Stopped", to(states.Stopped))
	t.Logf("escalated %v after the recorded deadline; stopped", late.Round(time.Millisecond))
	s.checkClean(t, vm, p)
	h2.close()
	s.report(t, "scenario 3 (SIGKILL while Stopping, escalation at the recorded deadline)", start)
}

// grep returns the lines of s holding word.
func grep(s, word string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// envDebian names the directory of the Debian guest image (rootfs.qcow2,
// vmlinuz, initrd.img) that e2e/lima/scenario4-debian.sh builds.
const envDebian = "LIFELINE_LIMA_E2E_DEBIAN"

// Scenario 4: a small Debian guest boots to Lima's `"running": true` →
// Running (the default readiness); a stop ends on the graceful path (the
// guest powers off, the host agent says "exiting" and exits 0: no
// stop_timeout); a second start works.
func TestScenario4DebianGuest(t *testing.T) {
	s := setup(t)
	img := os.Getenv(envDebian)
	if img == "" {
		t.Skipf("set %s (e2e/lima/scenario4-debian.sh builds the guest and runs this)", envDebian)
	}
	const vm = "s4"
	s.stopForceOnFailure(t, vm)
	spec := s.debianSpec(t, img)
	start := time.Now()
	h := startHost(t, s, s.config(vm, 2*time.Minute), 1)
	h.do(Command{Op: "create", VM: vm, Spec: spec})
	for round := 1; round <= 2; round++ {
		before := h.lastSeq()
		t0 := time.Now()
		h.do(Command{Op: "start", VM: vm})
		running := h.waitRunning(vm, before, 10*time.Minute)
		p := h.procs(vm)
		t.Logf("start %d: Running after %v (%q)", round, running.Time.Sub(t0).Round(time.Second), running.Reason)
		t1 := time.Now()
		h.do(Command{Op: "stop", VM: vm})
		stopped := h.wait(vm, before, stopBound+2*time.Minute, "Stopped", to(states.Stopped))
		h.mu.Lock()
		for _, r := range h.recs {
			if r.VM == vm && r.Seq > before && r.To == states.ForceStopping {
				t.Errorf("start %d: the stop was forced: %s %q", round, r.Event, r.Reason)
			}
		}
		h.mu.Unlock()
		if stopped.Event != states.Exited || !strings.Contains(stopped.Reason, `exit status 0, after "exiting"`) {
			t.Errorf("start %d: stopped by %s %q; want the agent's own exit 0 after \"exiting\"", round, stopped.Event, stopped.Reason)
		}
		t.Logf("start %d: Stopped %v after the stop, gracefully: %q", round, stopped.Time.Sub(t1).Round(100*time.Millisecond), stopped.Reason)
		s.checkClean(t, vm, p)
	}
	h.close()
	s.report(t, "scenario 4 (Debian guest: running, graceful stop, second start)", start)
}

// debianSpec is the Debian guest of scenario 4 (img is its directory):
// ready on Lima's `"running": true`.
func (s *suite) debianSpec(t *testing.T, img string) drivers.Spec {
	t.Helper()
	return s.debianGuest(t, img).spec
}

// debianGuest is the Debian guest the e2e suite boots, and what the tests
// check it by.
type debianGuest struct {
	spec drivers.Spec
	// share is the host directory mounted (9p, read-only) at mountPoint in
	// the guest; it holds marker.
	share, mountPoint, marker string
	// guestPort in the guest is forwarded to hostPort on 127.0.0.1.
	guestPort, hostPort int
}

// debianGuest makes the Debian guest's spec: not plain, so Lima runs its
// guest agent, mounts a host directory (9p, which Lima 1.2.3 uses by
// default with QEMU and which needs no guest package) and forwards a port;
// ready (the default readiness for a VM with a template) on the host agent's
// `"running": true`, which Lima sends only once the guest agent answered,
// and which the driver takes as a failed start when it comes "degraded".
//
// The image starts the guest agent before Lima's boot scripts run: Lima
// 1.2.3's host agent loses it for good when its first attempt to reach it
// comes too early, which under TCG it always did, and "running" came
// degraded ("guest agent does not seem to be running", after a minute of
// "guest agent events closed unexpectedly"). scenario4-debian.sh says where
// in Lima.
func (s *suite) debianGuest(t *testing.T, img string) debianGuest {
	t.Helper()
	for _, f := range []string{"rootfs.qcow2", "vmlinuz", "initrd.img"} {
		if _, err := os.Stat(filepath.Join(img, f)); err != nil {
			t.Fatal(err)
		}
	}
	g := debianGuest{
		share:      filepath.Join(s.dir, "share"),
		mountPoint: "/mnt/lifeline-e2e",
		marker:     fmt.Sprintf("lifeline e2e %s %d\n", t.Name(), time.Now().UnixNano()),
		guestPort:  8080,
		hostPort:   freePort(t),
	}
	if err := os.MkdirAll(g.share, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(g.share, "marker"), []byte(g.marker), 0o644); err != nil {
		t.Fatal(err)
	}
	tmpl := fmt.Sprintf(`# Debian bookworm, ext4 on the whole disk, direct kernel boot.
vmType: qemu
arch: x86_64
cpus: 2
memory: 1GiB
disk: 4GiB
cpuType:
  x86_64: %q
firmware:
  legacyBIOS: true
images:
- location: %q
  arch: x86_64
  kernel:
    location: %q
    arch: x86_64
    cmdline: "root=/dev/vda rw console=ttyS0 net.ifnames=0"
  initrd:
    location: %q
    arch: x86_64
mountType: 9p
mounts:
- location: %q
  mountPoint: %q
portForwards:
- guestPort: %d
  hostIP: 127.0.0.1
  hostPort: %d
containerd:
  system: false
  user: false
ssh:
  localPort: 0
  loadDotSSHPubKeys: false
`, s.cpuType, filepath.Join(img, "rootfs.qcow2"), filepath.Join(img, "vmlinuz"), filepath.Join(img, "initrd.img"),
		g.share, g.mountPoint, g.guestPort, g.hostPort)
	g.spec = drivers.Spec{Template: []byte(tmpl)}
	if s.qemuEnv != "" {
		g.spec.Env = map[string]string{"QEMU_SYSTEM_X86_64": s.qemuEnv}
	}
	return g
}

// freePort is a TCP port free on 127.0.0.1 now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// wantLimaEvent: the real host agent's status events, as the daemon serves
// them (the driver's AgentLog with Events) and `start --wait` reads them
// (client.AgentEventReader), hold the first event Lima sends a blank disk,
// {"status":{"sshLocalPort":N}}, and nothing the reader skips: `start
// --wait` prints it as "NAME: Lima: starting; ssh on 127.0.0.1:N".
func (s *suite) wantLimaEvent(t *testing.T, vm string) {
	t.Helper()
	drv, err := lima.New(lima.Options{LimaHome: s.limaHome, HostAgentCmd: []string{s.limactl, "hostagent"}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second) // the first event comes ~0.5 s after the agent's start
	for {
		var evs []api.AgentEvent
		rd := &client.AgentEventReader{Fn: func(ev api.AgentEvent) { evs = append(evs, ev) }}
		err := drv.AgentLog(context.Background(), vm, drivers.LogOptions{Events: true}, rd)
		if err != nil {
			t.Fatalf("the host agent's events: %v", err)
		}
		if rd.Skipped() != 0 {
			t.Fatalf("%d lines of ha.stdout.log were not events:\n%s", rd.Skipped(), readFile(s.limaHome+"/"+vm+"/ha.stdout.log"))
		}
		for _, ev := range evs {
			if ev.Status.SSHLocalPort != 0 && !ev.Time.IsZero() {
				t.Logf("Lima event: %+v", ev)
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no event with sshLocalPort in %d events after 30s:\n%s", len(evs), readFile(s.limaHome+"/"+vm+"/ha.stdout.log"))
		}
		time.Sleep(500 * time.Millisecond)
	}
}
