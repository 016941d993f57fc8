//go:build unix

package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lifeline-vm/lifeline/drivers"
)

func isWine() bool { return false }

func init() {
	// spawner is a daemon started with SIGINT ignored (as under nohup): it
	// starts a "sleep" agent, with Start (envArg "start") or with a plain
	// exec.Command in its own group ("plain"), interrupts it, and says
	// whether it stopped. It prints the agent's ignored-signal mask first,
	// where the OS shows it.
	helpers["spawner"] = func() int {
		if !signal.Ignored(syscall.SIGINT) {
			fmt.Println("setup: SIGINT is not ignored in the spawner")
			return 4
		}
		agentReady := os.Getenv(envReady) + ".agent"
		var proc drivers.Proc
		done := make(chan struct{})
		switch os.Getenv(envArg) {
		case "start":
			p, err := Start(helperCommand("sleep", agentReady, "agent"))
			if err != nil {
				fmt.Println("start:", err)
				return 2
			}
			proc, done = p.Proc, p.done
		case "plain":
			cmd := exec.Command(exe())
			cmd.Env = append(os.Environ(), envMode+"=sleep", envReady+"="+agentReady)
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := cmd.Start(); err != nil {
				fmt.Println("start:", err)
				return 2
			}
			go func() { cmd.Wait(); close(done) }()
			var err error
			if proc, err = Identify(cmd.Process.Pid); err != nil {
				fmt.Println("identify:", err)
				return 2
			}
		}
		if _, err := readPID(agentReady, testBound); err != nil {
			fmt.Println(err)
			return 2
		}
		if runtime.GOOS == "linux" {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", proc.PID))
			for _, line := range bytes.Split(b, []byte("\n")) {
				if bytes.HasPrefix(line, []byte("SigIgn:")) {
					fmt.Printf("%s\n", line)
				}
			}
		}
		if err := Interrupt(proc); err != nil {
			fmt.Println("interrupt:", err)
			return 2
		}
		select {
		case <-done:
			fmt.Println("stopped")
			return 0
		case <-time.After(time.Second):
			fmt.Println("survived")
			KillTree(context.Background(), "agent", proc)
			return 1
		}
	}
}

// The SIGINT inheritance trap: a daemon that runs with SIGINT ignored
// (nohup, `cmd &`) passes the ignored disposition to what it execs. An agent
// started with Start still stops on Interrupt; one started with a plain
// exec.Command does not (the control, which shows the trap is real).
func TestAgentStopsOnInterruptUnderIgnoringParent(t *testing.T) {
	for _, tc := range []struct {
		how      string
		wantCode int
		wantOut  string
	}{
		{"start", 0, "stopped"},
		{"plain", 1, "survived"},
	} {
		t.Run(tc.how, func(t *testing.T) {
			ready := filepath.Join(tempDir(t), "ready")
			// sh sets SIGINT to SIG_IGN and execs the spawner, which
			// inherits it: this test process's dispositions are untouched.
			cmd := exec.Command("/bin/sh", "-c", `trap '' INT; exec "$0"`, exe())
			cmd.Env = append(os.Environ(), envMode+"=spawner", envReady+"="+ready, envArg+"="+tc.how)
			out, err := cmd.Output()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode || !bytes.Contains(out, []byte(tc.wantOut)) {
				t.Fatalf("spawner (%s): exit %d, output:\n%s\nwant exit %d and %q", tc.how, code, out, tc.wantCode, tc.wantOut)
			}
			if runtime.GOOS == "linux" {
				var mask uint64
				if _, err := fmt.Sscanf(string(bytes.TrimSpace(out)), "SigIgn:\t%x", &mask); err != nil {
					t.Fatalf("no SigIgn line in %q: %v", out, err)
				}
				ignored := mask&(1<<(unix.SIGINT-1)) != 0
				if ignored != (tc.how == "plain") {
					t.Errorf("agent SigIgn %#x: SIGINT ignored = %v", mask, ignored)
				}
			}
		})
	}
}

// Start must leave the daemon's own dispositions as they were.
func TestStartKeepsParentDispositions(t *testing.T) {
	signal.Ignore(syscall.SIGHUP)
	defer signal.Reset(syscall.SIGHUP)
	p, _ := startHelper(t, "sleep")
	if !signal.Ignored(syscall.SIGHUP) {
		t.Fatal("SIGHUP no longer ignored in the parent after Start")
	}
	// The agent got SIG_DFL for SIGHUP: it dies of it.
	if err := unix.Kill(p.Proc.PID, unix.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitDone(t, p, "agent after SIGHUP")
}

// assertTreeGone checks that the whole group is gone: kill(-pgid, 0) fails
// with ESRCH. Orphans that this process reaps (as subreaper, on Linux) are
// reaped first; a zombie is still a member of its group.
func assertTreeGone(t testing.TB, leader drivers.Proc, reap ...drivers.Proc) {
	t.Helper()
	for _, p := range reap {
		reapOrphan(t, p.PID)
	}
	pgid := group(leader)
	eventually(t, fmt.Sprintf("group %d gone", pgid), func() bool {
		return errors.Is(unix.Kill(-pgid, 0), unix.ESRCH)
	})
	if alive, err := groupAlive(pgid); err != nil || alive {
		t.Fatalf("groupAlive(%d) = %v, %v", pgid, alive, err)
	}
}

// A recorded process that shares the daemon's group (it never got its own)
// must not take the daemon down; groups 0 and 1 are never signalled (kill(-1)
// would reach every process). Those two are checked without the signal call.
func TestRefusesOwnAndSpecialGroups(t *testing.T) {
	self, err := Identify(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if err := Interrupt(self); err == nil || errors.Is(err, ErrGone) {
		t.Errorf("Interrupt of our own group: %v, want a refusal", err)
	}
	if err := KillTree(context.Background(), "self", self); err == nil {
		t.Error("KillTree of our own group: nil, want a refusal")
	}
	for _, g := range []int{0, 1, -1} {
		if err := checkGroup(self, g); err == nil {
			t.Errorf("checkGroup(%d): nil, want a refusal", g)
		}
	}
}

// reapOrphan reaps the dead pid, which on Linux becomes our child (we are
// the subreaper) once its parent has exited too; elsewhere init reaps it.
func reapOrphan(t testing.TB, pid int) {
	t.Helper()
	if runtime.GOOS != "linux" {
		return
	}
	eventually(t, fmt.Sprintf("pid %d reaped", pid), func() bool {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		if got == pid {
			return true
		}
		// ECHILD: not (yet) reparented to us, or reaped by another.
		_, serr := os.Stat(fmt.Sprintf("/proc/%d", pid))
		return errors.Is(err, unix.ECHILD) && errors.Is(serr, os.ErrNotExist)
	})
}

// TestExitSignal: the signal that ended the leader is reported as data,
// and a leader still running reports none.
func TestExitSignal(t *testing.T) {
	p, _ := startHelper(t, "sleep")
	if got := p.ExitSignal(); got != 0 {
		t.Errorf("running leader: signal %d, want 0", got)
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	waitDone(t, p, "after SIGKILL")
	if got := p.ExitSignal(); got != int(syscall.SIGKILL) {
		t.Errorf("signal %d, want SIGKILL (%d)", got, syscall.SIGKILL)
	}
}
