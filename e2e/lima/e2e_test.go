//go:build linux

package limae2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/lima"
	"github.com/lifeline-vm/lifeline/drivers/process"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// The environment of the suite (.ci/lima-e2e.sh sets it).
const (
	// envE2E=1 runs the suite; without it every test skips.
	envE2E = "LIFELINE_LIMA_E2E"
	// envLimactl is limactl's path (lima-guestagent beside it or in
	// ../share/lima/).
	envLimactl = "LIFELINE_LIMA_E2E_LIMACTL"
	// envDir is a short work directory (Lima's socket paths must fit 104
	// bytes) owned by the user running the tests.
	envDir = "LIFELINE_LIMA_E2E_DIR"
	// envQEMU is passed to the host agent as QEMU_SYSTEM_X86_64 (Lima's
	// hook to replace the QEMU command), to force TCG.
	envQEMU = "LIFELINE_LIMA_E2E_QEMU"
	// envCPUType is the template's cpuType ("max" under TCG).
	envCPUType = "LIFELINE_LIMA_E2E_CPUTYPE"
	// envTimes names a file each scenario appends its wall time to.
	envTimes = "LIFELINE_LIMA_E2E_TIMES"
	// envHost makes the test binary the engine host; its value is the
	// HostConfig as JSON.
	envHost = "LIFELINE_LIMA_E2E_HOST"
)

// Bounds of the scenarios' waits.
const (
	startBound = 3 * time.Minute  // a blank disk is up in seconds; Prepare copies the image
	stopBound  = 90 * time.Second // graceful timeout + terminate grace + kill
	replyBound = 3 * time.Minute  // a command (create defines the instance)
)

func TestMain(m *testing.M) {
	if raw := os.Getenv(envHost); raw != "" {
		os.Exit(hostMain(raw))
	}
	os.Exit(m.Run())
}

// hostMain is the engine host child: Host on stdin and stdout.
func hostMain(raw string) int {
	var cfg HostConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "host config:", err)
		return 2
	}
	if err := Host(context.Background(), cfg, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "host:", err)
		return 1
	}
	return 0
}

// suite is what every scenario shares.
type suite struct {
	dir      string
	limaHome string
	limactl  string
	disk     string
	qemuEnv  string
	cpuType  string
}

// setup checks the prerequisites. Without LIFELINE_LIMA_E2E=1 it skips;
// with it, anything missing is a failure: the set-up said it succeeded.
func setup(t *testing.T) *suite {
	t.Helper()
	if os.Getenv(envE2E) != "1" {
		t.Skipf("set %s=1 to run against real Lima and QEMU (.ci/lima-e2e.sh does)", envE2E)
	}
	s := &suite{
		limactl: os.Getenv(envLimactl),
		dir:     os.Getenv(envDir),
		qemuEnv: os.Getenv(envQEMU),
		cpuType: os.Getenv(envCPUType),
	}
	if os.Getuid() == 0 {
		t.Fatal("running as root: limactl refuses root; run the suite as an unprivileged user")
	}
	if s.limactl == "" || s.dir == "" {
		t.Fatalf("%s and %s must be set", envLimactl, envDir)
	}
	if out, err := exec.Command(s.limactl, "--version").CombinedOutput(); err != nil {
		t.Fatalf("%s --version: %v\n%s", s.limactl, err, out)
	}
	for _, p := range []string{"qemu-system-x86_64", "qemu-img"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	if _, err := limaprepGuestAgent(s.limactl); err != nil {
		t.Fatal(err)
	}
	s.limaHome = filepath.Join(s.dir, "lh")
	if err := os.MkdirAll(s.limaHome, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := os.Getenv("LIMA_HOME"); got != s.limaHome {
		t.Fatalf("LIMA_HOME=%q, want %q (Lima's packages in Prepare read it)", got, s.limaHome)
	}
	s.disk = filepath.Join(s.dir, "blank.raw")
	if err := lima.CreateBlankDisk(s.disk, 0); err != nil {
		t.Fatal(err)
	}
	return s
}

// spec is a blank-disk VM, Running once the host agent answers.
func (s *suite) spec(t *testing.T) drivers.Spec {
	t.Helper()
	tmpl, err := lima.DefaultTemplate(lima.TemplateOptions{Disk: s.disk, Arch: "x86_64", CPUType: s.cpuType})
	if err != nil {
		t.Fatal(err)
	}
	spec := drivers.Spec{Template: tmpl, Ready: lima.ReadyAgent}
	if s.qemuEnv != "" {
		spec.Env = map[string]string{"QEMU_SYSTEM_X86_64": s.qemuEnv}
	}
	return spec
}

func (s *suite) config(name string, graceful time.Duration) HostConfig {
	return HostConfig{
		DB:              filepath.Join(s.dir, name+".db"),
		LimaHome:        s.limaHome,
		HostAgentCmd:    []string{s.limactl, "hostagent"},
		GracefulTimeout: graceful,
		TerminateGrace:  2 * time.Second,
		Prepare:         true,
		Debug:           true,
	}
}

// report logs a scenario's wall time and appends it to the times file.
func (s *suite) report(t *testing.T, name string, start time.Time) {
	d := time.Since(start).Round(10 * time.Millisecond)
	t.Logf("%s: wall time %v", name, d)
	if path := os.Getenv(envTimes); path != "" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err == nil {
			fmt.Fprintf(f, "%s\t%v\n", name, d)
			f.Close()
		}
	}
}

// host is a running engine host child.
type host struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{} // its output ended

	mu      sync.Mutex
	recs    []store.Record
	replies map[int]Reply
	sent    int
	wake    chan struct{}
}

func startHost(t *testing.T, s *suite, cfg HostConfig, n int) *host {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envHost+"="+string(raw))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logf, err := os.Create(filepath.Join(s.dir, fmt.Sprintf("%s.host%d.log", filepath.Base(cfg.DB), n)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	cmd.Stderr = logf
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &host{t: t, cmd: cmd, stdin: stdin, done: make(chan struct{}), replies: map[int]Reply{}, wake: make(chan struct{}, 1)}
	go h.read(stdout)
	t.Cleanup(func() {
		if h.cmd.ProcessState == nil {
			h.kill()
		}
	})
	return h
}

func (h *host) read(r io.Reader) {
	defer close(h.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			continue
		}
		h.mu.Lock()
		if m.Record != nil {
			h.recs = append(h.recs, *m.Record)
		}
		if m.Reply != nil {
			h.replies[m.Reply.N] = *m.Reply
		}
		h.mu.Unlock()
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
}

// do sends a command and waits for its reply.
func (h *host) do(c Command) {
	h.t.Helper()
	b, _ := json.Marshal(c)
	h.mu.Lock()
	h.sent++
	n := h.sent
	h.mu.Unlock()
	if _, err := h.stdin.Write(append(b, '\n')); err != nil {
		h.t.Fatalf("%s %s: %v", c.Op, c.VM, err)
	}
	h.until(fmt.Sprintf("reply to %s %s", c.Op, c.VM), replyBound, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		r, ok := h.replies[n]
		if ok && r.Err != "" {
			h.t.Fatalf("%s %s: %s", c.Op, c.VM, r.Err)
		}
		return ok
	})
}

// until waits for cond, re-checked on every message, at most bound.
func (h *host) until(what string, bound time.Duration, cond func() bool) {
	h.t.Helper()
	deadline := time.NewTimer(bound)
	defer deadline.Stop()
	tick := time.NewTicker(250 * time.Millisecond) // for conditions on the OS
	defer tick.Stop()
	for !cond() {
		select {
		case <-h.wake:
		case <-tick.C:
		case <-h.done:
			if !cond() {
				h.t.Fatalf("%s: the engine host exited (see its log); records:\n%s", what, h.history())
			}
			return
		case <-deadline.C:
			h.t.Fatalf("%s: not within %v; records:\n%s", what, bound, h.history())
		}
	}
}

// wait returns the first record of vm after seq for which pred holds.
func (h *host) wait(vm string, after uint64, bound time.Duration, what string, pred func(store.Record) bool) store.Record {
	h.t.Helper()
	var found store.Record
	h.until(vm+": "+what, bound, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, r := range h.recs {
			if r.VM == vm && r.Seq > after && pred(r) {
				found = r
				return true
			}
		}
		return false
	})
	return found
}

// waitRunning waits for vm to be Running after seq, and fails at once if
// it becomes Broken instead.
func (h *host) waitRunning(vm string, after uint64, bound time.Duration) store.Record {
	h.t.Helper()
	r := h.wait(vm, after, bound, "Running", func(r store.Record) bool {
		return r.To == states.Running || r.To == states.Broken
	})
	if r.To == states.Broken {
		h.t.Fatalf("%s: Broken instead of Running: %s %q; records:\n%s", vm, r.Event, r.Reason, h.history())
	}
	return r
}

func to(s states.State) func(store.Record) bool {
	return func(r store.Record) bool { return r.To == s }
}

// procs are the last identities recorded for vm.
func (h *host) procs(vm string) drivers.Procs {
	h.mu.Lock()
	defer h.mu.Unlock()
	var p drivers.Procs
	for _, r := range h.recs {
		if r.VM != vm {
			continue
		}
		if r.Agent.PID != 0 {
			p.Agent = r.Agent
		}
		if r.VMProcess.PID != 0 {
			p.VMProcess = r.VMProcess
		}
	}
	return p
}

func (h *host) lastSeq() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.recs) == 0 {
		return 0
	}
	return h.recs[len(h.recs)-1].Seq
}

func (h *host) history() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	for _, r := range h.recs {
		fmt.Fprintf(&b, "  %d %s %s %s→%s agent=%d driver=%d deadline=%s %q\n", r.Seq, r.Time.Format("15:04:05.000"), r.VM,
			r.From, r.To, r.Agent.PID, r.VMProcess.PID, r.Deadline.Format("15:04:05.000"), r.Reason)
	}
	return b.String()
}

// kill SIGKILLs the engine host, as a crash would end it.
func (h *host) kill() {
	_ = h.cmd.Process.Signal(syscall.SIGKILL)
	_ = h.cmd.Wait()
	<-h.done
}

// close ends the host's input; it detaches and exits.
func (h *host) close() {
	h.t.Helper()
	h.stdin.Close()
	select {
	case <-h.done:
	case <-time.After(time.Minute):
		h.t.Fatal("engine host did not exit after its input ended")
	}
	if err := h.cmd.Wait(); err != nil {
		h.t.Fatalf("engine host: %v", err)
	}
}

// alive reports whether the process recorded as p still runs.
func alive(p drivers.Proc) bool {
	return !p.IsZero() && !errors.Is(process.Check(p), process.ErrGone)
}

// eventually polls cond until it holds or bound passes.
func eventually(t *testing.T, what string, bound time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, bound)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkClean asserts that nothing of vm runs and no runtime file is left,
// and that Lima itself says Stopped.
func (s *suite) checkClean(t *testing.T, vm string, p drivers.Procs) {
	t.Helper()
	if alive(p.Agent) {
		t.Errorf("%s: host agent %d still runs", vm, p.Agent.PID)
	}
	if alive(p.VMProcess) {
		t.Errorf("%s: QEMU %d still runs", vm, p.VMProcess.PID)
	}
	if left := leftovers(t, s.limaHome); len(left) > 0 {
		t.Errorf("%s: processes of LIMA_HOME still run: %v", vm, left)
	}
	entries, err := os.ReadDir(filepath.Join(s.limaHome, vm))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		for _, suf := range []string{".pid", ".sock", ".tmp"} {
			if strings.HasSuffix(e.Name(), suf) {
				t.Errorf("%s: stale %s", vm, e.Name())
			}
		}
	}
	cmd := exec.Command(s.limactl, "list", "--format", "{{.Status}}", vm)
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) != "Stopped" {
		t.Errorf("%s: limactl list says %q (%v); want Stopped", vm, out, err)
	}
}

// leftovers lists the live processes whose command line mentions dir
// (QEMU's holds the instance directory), from /proc.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(b), dir+"/") {
			continue
		}
		if p, err := process.Identify(pid); err == nil && !p.IsZero() {
			out = append(out, fmt.Sprintf("%d %s", pid, strings.ReplaceAll(string(b), "\x00", " ")))
		}
	}
	return out
}

// limaprepGuestAgent checks that the guest agent can be found for limactl,
// as Prepare will look for it.
func limaprepGuestAgent(limactl string) (string, error) {
	return guestAgent(limactl)
}

// readFile returns the file's contents, or "".
func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
