//go:build unix

package agentsim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lima-vm/lima/pkg/hostagent/api"
	"github.com/lima-vm/lima/pkg/hostagent/events"
	"github.com/lima-vm/lima/pkg/store/filenames"
)

// Bounds of every wait in these tests; polls are bounded by waitTimeout.
const (
	waitTimeout  = 20 * time.Second
	pollInterval = 10 * time.Millisecond
)

// sim is one agent-sim process started by a test, in Lima's layout: an
// instance directory with ha.pid, ha.sock, ha.stdout.log, ha.stderr.log.
type sim struct {
	t                                         *testing.T
	dir, pidfile, socket, stdout, stderr, qpd string
	cmd                                       *exec.Cmd
	exited                                    chan struct{}

	mu      sync.Mutex
	drivers map[int]bool // driver pids seen, killed at cleanup
}

// startSim starts the test binary as agent-sim in a new instance directory,
// with env added to a clean environment. wrap, if any, runs before it (e.g.
// a shell that ignores SIGINT and execs it).
func startSim(t *testing.T, wrap []string, env ...string) *sim {
	t.Helper()
	// Not t.TempDir: unix socket paths are limited to about 104 bytes.
	dir, err := os.MkdirTemp("", "as")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return startSimIn(t, dir, "", wrap, env...)
}

// startSimIn starts agent-sim in dir, its stdout and stderr logs named with
// the prefix logs.
func startSimIn(t *testing.T, dir, logs string, wrap []string, env ...string) *sim {
	t.Helper()
	s := &sim{
		t: t, dir: dir,
		pidfile: filepath.Join(dir, filenames.HostAgentPID),
		socket:  filepath.Join(dir, filenames.HostAgentSock),
		stdout:  filepath.Join(dir, logs+filenames.HostAgentStdoutLog),
		stderr:  filepath.Join(dir, logs+filenames.HostAgentStderrLog),
		qpd:     filepath.Join(dir, filenames.PIDFile("qemu")),
		exited:  make(chan struct{}),
		drivers: map[int]bool{},
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	argv := append(append([]string{}, wrap...), exe, "--pidfile", s.pidfile, "--socket", s.socket, "vm1")
	s.cmd = exec.Command(argv[0], argv[1:]...)
	s.cmd.Env = append(append(cleanEnv(), testRoleEnv+"=agent"), env...)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // as Lima starts its hostagent
	so, err := os.Create(s.stdout)
	if err != nil {
		t.Fatal(err)
	}
	defer so.Close()
	se, err := os.Create(s.stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer se.Close()
	s.cmd.Stdout, s.cmd.Stderr = so, se
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(s.kill)
	return s
}

// cleanEnv is this process's environment without LIFELINE_SIM_* variables,
// and without the race detector's 1 s pause at exit.
func cleanEnv() []string {
	env := []string{"GORACE=atexit_sleep_ms=0"}
	if g := os.Getenv("GORACE"); g != "" {
		env[0] += " " + g
	}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GORACE=") {
			continue
		}
		if !strings.HasPrefix(kv, "LIFELINE_SIM_") && !strings.HasPrefix(kv, testRoleEnv+"=") {
			env = append(env, kv)
		}
	}
	return env
}

func (s *sim) pid() int { return s.cmd.Process.Pid }

// kill ends the agent's group and every driver group seen, then waits for
// the agent, bounded.
func (s *sim) kill() {
	if !s.hasExited() {
		_ = syscall.Kill(-s.pid(), syscall.SIGKILL)
	}
	if pid, err := readPID(s.qpd); err == nil {
		s.sawDriver(pid)
	}
	s.mu.Lock()
	for pid := range s.drivers {
		if alive(pid) { // its group, and itself should it lead none
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	s.mu.Unlock()
	select {
	case <-s.exited:
	case <-time.After(waitTimeout):
		s.t.Errorf("agent %d did not exit after SIGKILL", s.pid())
	}
}

func (s *sim) sawDriver(pid int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drivers[pid] = true
}

func (s *sim) hasExited() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// wait waits for the agent to exit and returns its exit status.
func (s *sim) wait() int {
	s.t.Helper()
	select {
	case <-s.exited:
		return s.cmd.ProcessState.ExitCode()
	case <-time.After(waitTimeout):
		s.t.Fatalf("agent did not exit within %v\nstderr:\n%s", waitTimeout, s.readStderr())
		return -1
	}
}

func (s *sim) signal(sig syscall.Signal) {
	s.t.Helper()
	if err := syscall.Kill(s.pid(), sig); err != nil {
		s.t.Fatalf("signal %v to agent: %v", sig, err)
	}
}

// events parses ha.stdout.log strictly with Lima's type: an unknown field
// or a line that is not an events.Event fails the test.
func (s *sim) events() []events.Event {
	s.t.Helper()
	b, err := os.ReadFile(s.stdout)
	if err != nil {
		s.t.Fatal(err)
	}
	var evs []events.Event
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			s.t.Fatalf("empty line in %s", s.stdout)
		}
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		var ev events.Event
		if err := dec.Decode(&ev); err != nil {
			s.t.Fatalf("event line %q: %v", sc.Text(), err)
		}
		if ev.Time.IsZero() {
			s.t.Errorf("event %q has no time", sc.Text())
		}
		evs = append(evs, ev)
	}
	return evs
}

// waitEvent polls for an event matching ok and returns the first.
func (s *sim) waitEvent(what string, ok func(events.Status) bool) events.Event {
	s.t.Helper()
	var found events.Event
	waitUntil(s.t, "event "+what, func() bool {
		for _, ev := range s.events() {
			if ok(ev.Status) {
				found = ev
				return true
			}
		}
		return false
	})
	return found
}

func (s *sim) waitRunning() events.Event {
	s.t.Helper()
	return s.waitEvent(`"running": true`, func(st events.Status) bool { return st.Running })
}

// driverPID waits for qemu.pid and returns the pid in it.
func (s *sim) driverPID() int {
	s.t.Helper()
	var pid int
	waitUntil(s.t, "qemu.pid", func() bool {
		var err error
		pid, err = readPID(s.qpd)
		return err == nil
	})
	s.sawDriver(pid)
	return pid
}

// driverPIDFromLog finds the driver's pid in the agent's stderr log, for
// when qemu.pid is gone.
func (s *sim) driverPIDFromLog() int {
	s.t.Helper()
	var pid int
	waitUntil(s.t, "the driver's pid in the log", func() bool {
		for _, l := range s.logLines() {
			if l.Msg == "driver child started" && l.PID > 0 {
				pid = l.PID
				return true
			}
		}
		return false
	})
	s.sawDriver(pid)
	return pid
}

// logLines parses ha.stderr.log as logrus JSON lines, which Lima's
// events.Watch propagates; a line in another format fails the test.
func (s *sim) logLines() []logLine {
	s.t.Helper()
	var out []logLine
	for _, line := range strings.Split(strings.TrimSpace(s.readStderr()), "\n") {
		if line == "" {
			continue
		}
		var l logLine
		if err := json.Unmarshal([]byte(line), &l); err != nil || l.Level == "" || l.Msg == "" || l.Time.IsZero() {
			s.t.Fatalf("stderr line %q is not a logrus JSON line (%v)", line, err)
		}
		out = append(out, l)
	}
	return out
}

func (s *sim) readStderr() string {
	b, _ := os.ReadFile(s.stderr)
	return string(b)
}

// info asks the agent's socket for GET /v1/info, as Lima's client does.
func (s *sim) info() (api.Info, error) {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", s.socket)
	}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	resp, err := c.Get("http://lima-hostagent" + InfoPath)
	if err != nil {
		return api.Info{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return api.Info{}, fmt.Errorf("GET %s: %s", InfoPath, resp.Status)
	}
	var info api.Info
	return info, json.NewDecoder(resp.Body).Decode(&info)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		}
		time.Sleep(pollInterval)
	}
}

// stillAliveFor checks, by polling, that the agent does not exit for d: the
// only way to watch a signal being ignored.
func (s *sim) stillAliveFor(d time.Duration) {
	s.t.Helper()
	select {
	case <-s.exited:
		s.t.Fatalf("agent exited (%v); want it alive\nstderr:\n%s", s.cmd.ProcessState, s.readStderr())
	case <-time.After(d):
	}
}

// alive reports whether pid is a live process: a zombie (dead, not yet
// reaped by whoever inherited it) is not alive.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true // no /proc (macOS): kill(0) is all we know
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}

// ignores reports whether pid ignores sig, from /proc/PID/status's SigIgn
// mask; ok is false where there is no /proc.
func ignores(pid int, sig syscall.Signal) (ignored, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return false, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if hex, found := strings.CutPrefix(line, "SigIgn:"); found {
			mask, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
			if err != nil {
				return false, false
			}
			return mask&(1<<(uint(sig)-1)) != 0, true
		}
	}
	return false, false
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
