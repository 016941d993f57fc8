//go:build linux

package limae2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
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

// A Lima user's day on the Debian guest with Lima's guest agent, a 9p mount
// and a port forward (issue 11: the Tests section's scenario, item 3's
// guest): lifeline and limactl take turns on one VM, and after each step
// both views are asserted (lifeline's records; `limactl list`):
//
//  1. lifeline start → Running on Lima's non-degraded `"running": true`;
//     limactl list Running.
//  2. `limactl shell NAME uname -a` answers from the guest.
//  3. The host directory is mounted in the guest, and the forwarded host
//     port reaches a listener in the guest (which serves that directory).
//  4. `limactl stop NAME` → lifeline Stopped by stopped_outside, no restart
//     although the VM has --restart on-failure; limactl list Stopped.
//  5. `limactl start NAME` → lifeline Running by adopted (started_outside,
//     both identities those of ha.pid and qemu.pid); limactl list Running.
//  6. lifeline stop → Stopped on the graceful path (no ForceStopping);
//     limactl list Stopped; nothing of the VM left.
//
// Each step logs "step N: ... took Xs" and appends it to the times file.
func TestScenarioDebianMixed(t *testing.T) {
	s := setup(t)
	img := os.Getenv(envDebian)
	if img == "" {
		t.Skipf("set %s (e2e/lima/scenario4-debian.sh builds the guest and runs this)", envDebian)
	}
	const vm = "dm"
	s.stopForceOnFailure(t, vm)
	g := s.debianGuest(t, img)
	spec := g.spec
	spec.Restart = engine.RestartOnFailure
	start := time.Now()
	cfg := s.config(vm, 2*time.Minute)
	cfg.StartTimeout = debianBootBound
	h := startHost(t, s, cfg, 1)
	h.do(Command{Op: "create", VM: vm, Spec: spec})

	// 1. lifeline start.
	t0 := time.Now()
	h.do(Command{Op: "start", VM: vm})
	running := h.waitRunning(vm, 0, debianBootBound+time.Minute)
	if running.Event != states.EventRunning {
		t.Errorf("Running by %s %q; want running (the host agent's \"running\": true)", running.Event, running.Reason)
	}
	ev := lastStatusEvent(t, filepath.Join(s.limaHome, vm, "ha.stdout.log"))
	if !strings.Contains(ev, `"running":true`) || strings.Contains(ev, "degraded") || strings.Contains(ev, "errors") {
		t.Errorf("Lima's last status event: %s; want running, not degraded, no errors", ev)
	}
	p := h.procs(vm)
	listed := s.limaStatus(t, vm)
	if listed != "Running" {
		t.Errorf("limactl list says %s, lifeline Running", listed)
	}
	s.step(t, 1, "lifeline start", time.Since(t0), fmt.Sprintf("lifeline %s %s→%s %q; Lima %s; limactl list %s", running.Event, running.From, running.To, running.Reason, ev, listed))

	// 2. limactl shell.
	t0 = time.Now()
	out, err := s.shell(t, vm, "uname", "-a")
	if err != nil || !strings.HasPrefix(out, "Linux lima-"+vm+" ") {
		t.Fatalf("limactl shell %s uname -a: %v\n%s", vm, err, out)
	}
	s.step(t, 2, "limactl shell uname -a", time.Since(t0), fmt.Sprintf("%q; lifeline %s", strings.TrimSpace(out), h.state(vm)))

	// 3. The mount, and the port forward to a listener in the guest that
	// serves the mounted directory.
	t0 = time.Now()
	out, err = s.shell(t, vm, "cat", g.mountPoint+"/marker")
	if err != nil || out != g.marker {
		t.Fatalf("the mount: cat %s/marker in the guest: %v: %q; want %q", g.mountPoint, err, out, g.marker)
	}
	mounted := time.Since(t0)
	out, err = s.shell(t, vm, "sudo", "systemd-run", "--unit=lifeline-e2e-http", "--",
		"python3", "-m", "http.server", strconv.Itoa(g.guestPort), "--bind", "127.0.0.1", "--directory", g.mountPoint)
	if err != nil {
		t.Fatalf("start a listener in the guest: %v\n%s", err, out)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/marker", g.hostPort)
	var got string
	eventually(t, "the forwarded port "+url+" serves the marker", 3*time.Minute, func() bool {
		got, _ = httpGet(url)
		return got == g.marker
	})
	s.step(t, 3, "mount visible + port forward reaches the guest", time.Since(t0),
		fmt.Sprintf("%s holds the marker after %v; %s (guest port %d) served it; lifeline %s", g.mountPoint, mounted.Round(100*time.Millisecond), url, g.guestPort, h.state(vm)))

	// 4. limactl stop: a stop from outside, not restarted.
	t0 = time.Now()
	before := h.lastSeq()
	out, took, err := s.runLimactl(t, "stop", vm)
	if err != nil {
		t.Fatalf("limactl stop %s: %v\n%s", vm, err, out)
	}
	r := s.stoppedOutside(t, h, vm, before, `"Received SIGINT, shutting down the host agent"`)
	for _, q := range []drivers.Proc{p.Agent, p.VMProcess} {
		if alive(q) {
			t.Errorf("pid %d runs after limactl stop", q.PID)
		}
	}
	s.step(t, 4, "limactl stop", took, fmt.Sprintf("limactl exit 0; lifeline %s %s→%s %q, nothing recorded for %v after it (restart on-failure); limactl list %s (%v with the hold)",
		r.Event, r.From, r.To, r.Reason, noRestartFor, s.limaStatus(t, vm), time.Since(t0).Round(100*time.Millisecond)))

	// 5. limactl start: adopted.
	t0 = time.Now()
	before = h.lastSeq()
	ctx, cancel := context.WithTimeout(context.Background(), debianBootBound+time.Minute)
	defer cancel()
	lc := exec.CommandContext(ctx, s.limactl, "start", "--tty=false", "--timeout", debianBootBound.String(), vm)
	lc.Env = os.Environ()
	if s.qemuEnv != "" {
		lc.Env = append(lc.Env, "QEMU_SYSTEM_X86_64="+s.qemuEnv)
	}
	var lout strings.Builder
	lc.Stdout, lc.Stderr = &lout, &lout
	if err := lc.Start(); err != nil {
		t.Fatalf("limactl start %s: %v", vm, err)
	}
	waited := make(chan error, 1)
	go func() { waited <- lc.Wait() }()
	r = h.wait(vm, before, startBound, "adopted", func(r store.Record) bool { return r.To != states.Stopped })
	adoptedAfter := time.Since(t0)
	if r.Event != states.Adopted || r.Cause.Kind != store.CauseStartedOutside || r.To != states.Running || r.Agent.IsZero() || r.VMProcess.IsZero() {
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
	var lerr error
	select {
	case lerr = <-waited:
	case <-ctx.Done():
		t.Fatalf("limactl start %s did not return within %v:\n%s", vm, debianBootBound+time.Minute, lout.String())
	}
	limaTook := time.Since(t0)
	if lerr != nil {
		t.Fatalf("limactl start %s: %v\n%s", vm, lerr, lout.String())
	}
	if last := h.lastSeq(); last != r.Seq {
		t.Errorf("recorded more after the adoption while the guest booted:\n%s", h.history())
	}
	listed = s.limaStatus(t, vm)
	if listed != "Running" {
		t.Errorf("limactl list says %s, lifeline Running (adopted)", listed)
	}
	out, err = s.shell(t, vm, "cat", g.mountPoint+"/marker")
	if err != nil || out != g.marker {
		t.Errorf("after limactl start, the mount: %v: %q", err, out)
	}
	s.step(t, 5, "limactl start", limaTook, fmt.Sprintf("limactl exit 0 (guest running, not degraded); lifeline %s %s→%s %s after %v (agent %d, QEMU %d); limactl list %s",
		r.Event, r.From, r.To, r.Cause.Kind, adoptedAfter.Round(100*time.Millisecond), r.Agent.PID, r.VMProcess.PID, listed))
	p2 := drivers.Procs{Agent: r.Agent, VMProcess: r.VMProcess}

	// 6. lifeline stop: graceful.
	t0 = time.Now()
	before = h.lastSeq()
	h.do(Command{Op: "stop", VM: vm})
	stopped := h.wait(vm, before, stopBound+2*time.Minute, "Stopped", to(states.Stopped))
	h.mu.Lock()
	for _, r := range h.recs {
		if r.VM == vm && r.Seq > before && r.To == states.ForceStopping {
			t.Errorf("the stop was forced: %s %q", r.Event, r.Reason)
		}
	}
	h.mu.Unlock()
	s.checkClean(t, vm, p2)
	s.step(t, 6, "lifeline stop", time.Since(t0), fmt.Sprintf("lifeline %s %s→%s %q, no ForceStopping; limactl list %s",
		stopped.Event, stopped.From, stopped.To, stopped.Reason, s.limaStatus(t, vm)))
	t.Logf("records:\n%s", h.history())
	h.close()
	s.report(t, "Debian guest with the guest agent, lifeline and limactl mixed (6 steps)", start)
}

// step logs one step of a scenario with its wall time and what both CLIs
// showed, and appends it to the times file.
func (s *suite) step(t *testing.T, n int, what string, took time.Duration, views string) {
	t.Helper()
	line := fmt.Sprintf("step %d: %s took %.1fs: %s", n, what, took.Seconds(), views)
	t.Log(line)
	if path := os.Getenv(envTimes); path != "" {
		if f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
			fmt.Fprintf(f, "  %s\n", line)
			f.Close()
		}
	}
}

// shell runs a command in vm's guest with `limactl shell` and returns its
// standard output.
func (s *suite) shell(t *testing.T, vm string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.limactl, append([]string{"shell", "--workdir", "/", vm}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// state is vm's state as lifeline last recorded it.
func (h *host) state(vm string) states.State {
	h.mu.Lock()
	defer h.mu.Unlock()
	var st states.State
	for _, r := range h.recs {
		if r.VM == vm {
			st = r.To
		}
	}
	return st
}

// lastStatusEvent is the last line of Lima's event log (ha.stdout.log).
func lastStatusEvent(t *testing.T, path string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(readFile(path)), "\n")
	return lines[len(lines)-1]
}

// httpGet returns the body of a GET of url, bounded.
func httpGet(url string) (string, error) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), err
}
