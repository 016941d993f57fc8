//go:build unix

package agentsim

import (
	"context"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lima-vm/lima/pkg/hostagent/events"
)

// The whole protocol of a well-behaved agent with a start delay, and a
// graceful stop on SIGINT.
func TestStartAndStopOnSIGINT(t *testing.T) {
	t.Parallel()
	const delay = 300 * time.Millisecond
	s := startSim(t, nil, EnvStartDelay+"="+delay.String())

	// ha.pid names the agent.
	waitUntil(t, "ha.pid", func() bool { return exists(s.pidfile) })
	if pid, err := readPID(s.pidfile); err != nil || pid != s.pid() {
		t.Fatalf("ha.pid: %d, %v; want the agent's pid %d", pid, err, s.pid())
	}

	// The first event carries the ssh port, as the real hostagent's does.
	booting := s.waitEvent("with sshLocalPort", func(st events.Status) bool { return st.SSHLocalPort != 0 })
	if first := s.events()[0]; !reflect.DeepEqual(first.Status, events.Status{SSHLocalPort: booting.Status.SSHLocalPort}) {
		t.Errorf("first event %+v, want only sshLocalPort", first.Status)
	}

	// qemu.pid names the driver child, leader of its own group.
	drv := s.driverPID()
	agentGroup, err := syscall.Getpgid(s.pid())
	if err != nil {
		t.Fatal(err)
	}
	drvGroup, err := syscall.Getpgid(drv)
	if err != nil {
		t.Fatal(err)
	}
	if drv == s.pid() || drvGroup != drv || drvGroup == agentGroup {
		t.Errorf("driver %d in group %d, agent %d in group %d; want the driver leading its own group",
			drv, drvGroup, s.pid(), agentGroup)
	}

	// GET /v1/info answers on the socket with the same port.
	info, err := s.info()
	if err != nil {
		t.Fatal(err)
	}
	if info.SSHLocalPort != booting.Status.SSHLocalPort {
		t.Errorf("info sshLocalPort %d, event's %d", info.SSHLocalPort, booting.Status.SSHLocalPort)
	}

	// "running" arrives after the delay.
	running := s.waitRunning()
	if d := running.Time.Sub(booting.Time); d < delay {
		t.Errorf(`"running" came %v after the first event; want at least %v`, d, delay)
	}
	if !reflect.DeepEqual(running.Status, events.Status{Running: true, SSHLocalPort: info.SSHLocalPort}) {
		t.Errorf("running event %+v", running.Status)
	}

	s.signal(syscall.SIGINT)
	if code := s.wait(); code != 0 {
		t.Fatalf("exit status %d after SIGINT, want 0\nstderr:\n%s", code, s.readStderr())
	}
	evs := s.events()
	if last := evs[len(evs)-1].Status; !reflect.DeepEqual(last, events.Status{Exiting: true}) {
		t.Errorf("last event %+v, want exiting", last)
	}
	if alive(drv) {
		t.Errorf("driver %d still alive after the agent stopped", drv)
	}
	for _, f := range []string{s.pidfile, s.socket, s.qpd} {
		if exists(f) {
			t.Errorf("%s left behind", f)
		}
	}
	assertNoTmp(t, s.dir)
	var gotSignalLog bool
	for _, l := range s.logLines() {
		gotSignalLog = gotSignalLog || strings.Contains(l.Msg, "Received SIGINT")
	}
	if !gotSignalLog {
		t.Errorf("no log of the SIGINT in:\n%s", s.readStderr())
	}
}

func TestStopOnSIGTERM(t *testing.T) {
	t.Parallel()
	s := startSim(t, nil)
	s.waitRunning()
	drv := s.driverPID()
	s.signal(syscall.SIGTERM)
	if code := s.wait(); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0", code)
	}
	assertLastExiting(t, s)
	if alive(drv) {
		t.Errorf("driver %d still alive", drv)
	}
}

// Lima's own watcher reads the agent's output: events.Watch on
// ha.stdout.log and ha.stderr.log finds "running", then "exiting". Each
// Watch starts once its event is in the file: Watch follows with
// nxadm/tail, which misses a write that lands between its read to the end
// of the file and its inotify watch, and then waits for the next write.
func TestLimaWatchReadsEvents(t *testing.T) {
	t.Parallel()
	s := startSim(t, nil, EnvStartDelay+"=100ms")
	watch := func(want func(events.Status) bool) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		var seen bool
		err := events.Watch(ctx, s.stdout, s.stderr, time.Now(), func(ev events.Event) bool {
			seen = want(ev.Status)
			return seen
		})
		if err != nil || !seen {
			t.Fatalf("events.Watch: %v, seen=%v", err, seen)
		}
	}
	s.waitRunning()
	watch(func(st events.Status) bool { return st.Running })
	s.signal(syscall.SIGINT)
	if code := s.wait(); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	watch(func(st events.Status) bool { return st.Exiting })
}

func TestIgnoreSignal(t *testing.T) {
	for _, tc := range []struct {
		knob             string
		ignored, stopper syscall.Signal
	}{
		{EnvIgnoreSIGINT, syscall.SIGINT, syscall.SIGTERM},
		{EnvIgnoreSIGTERM, syscall.SIGTERM, syscall.SIGINT},
	} {
		t.Run(tc.knob, func(t *testing.T) {
			t.Parallel()
			s := startSim(t, nil, tc.knob+"=1")
			s.waitRunning()
			drv := s.driverPID()
			// Both processes have the signal set to SIG_IGN.
			for _, pid := range []int{s.pid(), drv} {
				if ign, ok := ignores(pid, tc.ignored); ok && !ign {
					t.Errorf("pid %d does not ignore %v", pid, tc.ignored)
				}
				if ign, ok := ignores(pid, tc.stopper); ok && ign {
					t.Errorf("pid %d ignores %v too", pid, tc.stopper)
				}
			}
			// And both survive it.
			s.signal(tc.ignored)
			if err := syscall.Kill(-drv, tc.ignored); err != nil {
				t.Fatal(err)
			}
			s.stillAliveFor(300 * time.Millisecond)
			if !alive(drv) {
				t.Fatalf("driver died of %v", tc.ignored)
			}
			if _, err := s.info(); err != nil {
				t.Fatalf("socket after %v: %v", tc.ignored, err)
			}
			for _, ev := range s.events() {
				if ev.Status.Exiting {
					t.Fatalf("exiting after an ignored %v", tc.ignored)
				}
			}
			// The other signal stops it; a driver that ignores SIGINT is
			// killed after DriverStopTimeout.
			s.signal(tc.stopper)
			if code := s.wait(); code != 0 {
				t.Fatalf("exit status %d after %v, want 0", code, tc.stopper)
			}
			assertLastExiting(t, s)
			if alive(drv) {
				t.Errorf("driver %d still alive", drv)
			}
		})
	}
}

// An agent whose parent ignores SIGINT (a shell's trap "" INT, inherited
// across exec) still stops on it: signal.Notify re-enables it.
func TestSIGINTWhenStartedIgnored(t *testing.T) {
	t.Parallel()
	s := startSim(t, []string{"/bin/sh", "-c", `trap "" INT; exec "$@"`, "sh"})
	s.waitRunning()
	if ign, ok := ignores(s.pid(), syscall.SIGINT); ok && ign {
		t.Errorf("agent ignores SIGINT")
	}
	s.signal(syscall.SIGINT)
	if code := s.wait(); code != 0 {
		t.Fatalf("exit status %d after SIGINT, want 0", code)
	}
	assertLastExiting(t, s)
}

func TestNeverRunning(t *testing.T) {
	t.Parallel()
	s := startSim(t, nil, EnvNeverRunning+"=1")
	s.waitEvent("with sshLocalPort", func(st events.Status) bool { return st.SSHLocalPort != 0 })
	if _, err := s.info(); err != nil {
		t.Fatalf("socket: %v", err)
	}
	// Without the knob, "running" is written right after the first event,
	// before any signal is handled: after SIGINT the log is complete.
	s.signal(syscall.SIGINT)
	if code := s.wait(); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	for _, ev := range s.events() {
		if ev.Status.Running {
			t.Errorf("running reported: %+v", ev)
		}
	}
	assertLastExiting(t, s)
}

func TestCrashAfter(t *testing.T) {
	t.Parallel()
	const after = 200 * time.Millisecond
	s := startSim(t, nil, EnvCrashAfter+"="+after.String())
	running := s.waitRunning()
	drv := s.driverPID()
	if code := s.wait(); code != 1 {
		t.Fatalf("exit status %d, want 1", code)
	}
	if d := time.Since(running.Time); d < after {
		t.Errorf("exited %v after running, want at least %v", d, after)
	}
	if alive(drv) {
		t.Errorf("driver %d alive after the crash", drv)
	}
	for _, ev := range s.events() {
		if ev.Status.Exiting {
			t.Errorf("a crash reported exiting")
		}
	}
	// A crash leaves its files, as a killed agent does.
	for _, f := range []string{s.pidfile, s.socket, s.qpd} {
		if !exists(f) {
			t.Errorf("%s removed by a crash", f)
		}
	}
}

func TestOrphanDriver(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      []string
		stop     func(*sim)
		wantCode int
	}{
		{"crash", []string{EnvCrashAfter + "=100ms"}, func(*sim) {}, 1},
		{"SIGINT", nil, func(s *sim) { s.signal(syscall.SIGINT) }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startSim(t, nil, append(tc.env, EnvOrphanDriver+"=1")...)
			s.waitRunning()
			drv := s.driverPID()
			tc.stop(s)
			if code := s.wait(); code != tc.wantCode {
				t.Fatalf("exit status %d, want %d", code, tc.wantCode)
			}
			if !alive(drv) {
				t.Fatalf("driver %d died with the agent", drv)
			}
			if pid, err := readPID(s.qpd); err != nil || pid != drv {
				t.Errorf("qemu.pid: %d, %v; want the live driver %d", pid, err, drv)
			}
			// The test's cleanup kills the driver's group.
		})
	}
}

// Lima's trap: the agent removes qemu.pid and exits 0, a driver lives on.
func TestExitZeroLeavingDriver(t *testing.T) {
	t.Parallel()
	s := startSim(t, nil, EnvExitZeroLeavingDriver+"=1")
	if code := s.wait(); code != 0 {
		t.Fatalf("exit status %d, want 0\nstderr:\n%s", code, s.readStderr())
	}
	drv := s.driverPIDFromLog()
	if !alive(drv) {
		t.Fatalf("driver %d not alive", drv)
	}
	if g, err := syscall.Getpgid(drv); err != nil || g != drv {
		t.Errorf("driver %d in group %d (%v); want its own", drv, g, err)
	}
	for _, f := range []string{s.qpd, s.pidfile, s.socket} {
		if exists(f) {
			t.Errorf("%s left behind", f)
		}
	}
	evs := s.events()
	if len(evs) != 2 || evs[0].Status.SSHLocalPort == 0 || evs[0].Status.Running || !evs[1].Status.Exiting {
		t.Errorf("events %+v; want the first one, then exiting", evs)
	}
}

func TestFailStart(t *testing.T) {
	t.Parallel()
	s := startSim(t, nil, EnvFailStart+"=1")
	if code := s.wait(); code != 1 {
		t.Fatalf("exit status %d, want 1", code)
	}
	evs := s.events()
	if len(evs) != 2 || len(evs[0].Status.Errors) == 0 || evs[0].Status.Running || !evs[1].Status.Exiting {
		t.Fatalf("events %+v; want an error event, then exiting", evs)
	}
	if !strings.Contains(evs[0].Status.Errors[0], EnvFailStart) {
		t.Errorf("error %q does not say why", evs[0].Status.Errors[0])
	}
	for _, f := range []string{s.qpd, s.pidfile, s.socket} {
		if exists(f) {
			t.Errorf("%s left behind", f)
		}
	}
}

func TestBadKnob(t *testing.T) {
	for _, kv := range []string{
		EnvStartDelay + "=banana",
		EnvCrashAfter + "=-1s",
		EnvIgnoreSIGINT + "=maybe",
	} {
		t.Run(kv, func(t *testing.T) {
			t.Parallel()
			s := startSim(t, nil, kv)
			if code := s.wait(); code != 2 {
				t.Fatalf("exit status %d, want 2", code)
			}
			name, _, _ := strings.Cut(kv, "=")
			if stderr := s.readStderr(); !strings.Contains(stderr, name) {
				t.Errorf("stderr %q does not name %s", stderr, name)
			}
			if exists(s.pidfile) {
				t.Errorf("ha.pid written despite the bad knob")
			}
		})
	}
}

// The driver child dying unasked ends the agent, as QEMU's exit ends Lima's
// hostagent: "exiting", exit 1, files removed.
func TestDriverExitsUnasked(t *testing.T) {
	t.Parallel()
	s := startSim(t, nil)
	s.waitRunning()
	drv := s.driverPID()
	if err := syscall.Kill(-drv, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code := s.wait(); code != 1 {
		t.Fatalf("exit status %d, want 1", code)
	}
	assertLastExiting(t, s)
	for _, f := range []string{s.qpd, s.pidfile, s.socket} {
		if exists(f) {
			t.Errorf("%s left behind", f)
		}
	}
}

// A second agent on the same instance refuses to start.
func TestPIDFileInUse(t *testing.T) {
	t.Parallel()
	s := startSim(t, nil)
	s.waitRunning()
	second := startSimIn(t, s.dir, "second.", nil)
	if code := second.wait(); code != 1 {
		t.Fatalf("second agent: exit status %d, want 1", code)
	}
	if !strings.Contains(second.readStderr(), ErrPIDFileInUse.Error()) {
		t.Errorf("second agent's stderr: %q", second.readStderr())
	}
	if pid, err := readPID(s.pidfile); err != nil || pid != s.pid() {
		t.Errorf("ha.pid now %d, %v; want the first agent's %d", pid, err, s.pid())
	}
}

func assertLastExiting(t *testing.T, s *sim) {
	t.Helper()
	evs := s.events()
	if len(evs) == 0 || !evs[len(evs)-1].Status.Exiting {
		t.Errorf("events %+v; want exiting last", evs)
	}
}

func assertNoTmp(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("%s left behind", e.Name())
		}
	}
}
