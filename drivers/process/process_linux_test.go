package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lifeline-vm/lifeline/drivers"
)

func init() {
	// Orphans (a killed tree's grandchild) are reparented to the test
	// process, which reaps them (reapOrphan): this machine's init may not,
	// and a zombie keeps its group alive for kill(-pgid, 0).
	beforeTests = func() { unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }

	// killer parses an identity ("pid start group boot") from envArg, runs
	// Interrupt and KillTree on it and prints their errors.
	helpers["killer"] = func() int {
		var p drivers.Proc
		if _, err := fmt.Sscan(os.Getenv(envArg), &p.PID, &p.StartTime, &p.Group, &p.BootID); err != nil {
			fmt.Println("killer:", err)
			return 2
		}
		fmt.Println("interrupt:", Interrupt(p))
		fmt.Println("killtree:", KillTree(context.Background(), "victim", p))
		return 0
	}
}

func TestParseStat(t *testing.T) {
	// Fields 3 on of a real stat line: state ppid pgrp session tty tpgid
	// flags minflt cminflt majflt cmajflt utime stime cutime cstime
	// priority nice threads itrealvalue starttime vsize rss.
	line := func(comm string, state byte, pgrp, threads int) string {
		return fmt.Sprintf("42 (%s) %c 1 %d 42 0 -1 4194304 100 0 0 0 1 2 0 0 20 0 %d 0 12345 1000 200",
			comm, state, pgrp, threads)
	}
	for _, tc := range []struct {
		stat      string
		state     byte
		ppid      int
		pgrp      int
		startTime uint64
		dead      bool
		bad       bool
	}{
		{stat: line("sleep", 'S', 42, 1), state: 'S', ppid: 1, pgrp: 42, startTime: 12345},
		{stat: line("a) (b c", 'Z', 7, 1), state: 'Z', ppid: 1, pgrp: 7, startTime: 12345, dead: true},
		{stat: line("x)", 'R', 9, 3), state: 'R', ppid: 1, pgrp: 9, startTime: 12345},
		{stat: line(") 1 2 3 (", 'S', 5, 1), state: 'S', ppid: 1, pgrp: 5, startTime: 12345},
		// A main thread that exited while other threads run: alive.
		{stat: line("threads", 'Z', 5, 4), state: 'Z', ppid: 1, pgrp: 5, startTime: 12345},
		{stat: "42 (sleep S 1 42", bad: true},
		{stat: "42 (sleep) S 1 42 42", bad: true},
	} {
		st, err := parseStat([]byte(tc.stat))
		if tc.bad {
			if err == nil {
				t.Errorf("parseStat(%q) = %+v, want an error", tc.stat, st)
			}
			continue
		}
		if err != nil || st.state != tc.state || st.ppid != tc.ppid || st.pgrp != tc.pgrp || st.startTime != tc.startTime || st.dead() != tc.dead {
			t.Errorf("parseStat(%q) = %+v, %v", tc.stat, st, err)
		}
	}
}

// Scan reads the identity and parent of the pids pick accepts, and only
// those: our child is found with the identity Start recorded.
func TestScan(t *testing.T) {
	p, _ := startHelper(t, "sleep")
	picked := 0
	got, err := Scan(func(pid int) bool {
		picked++
		return pid == p.Proc.PID
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Proc != p.Proc || got[0].Parent != os.Getpid() {
		t.Fatalf("Scan for our child pid %d = %+v, want its identity %+v and parent %d", p.Proc.PID, got, p.Proc, os.Getpid())
	}
	if picked < 2 {
		t.Errorf("pick was asked about %d pids, want every process's", picked)
	}
}

// A real process whose command name holds spaces and parentheses.
func TestIdentifyOddCommandName(t *testing.T) {
	link := filepath.Join(tempDir(t), "x) (y z")
	if err := os.Symlink(exe(), link); err != nil {
		t.Fatal(err)
	}
	ready := filepath.Join(tempDir(t), "ready")
	c := helperCommand("sleep", ready, "odd")
	c.Path = link
	p, err := Start(c)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { KillTree(context.Background(), "odd", p.Proc); <-p.Done() }()
	if _, err := readPID(ready, testBound); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Proc.PID))
	if !strings.Contains(string(b), "(x) (y z)") {
		t.Fatalf("stat %q does not hold the odd name", b)
	}
	live, err := Identify(p.Proc.PID)
	if err != nil || live.Group != p.Proc.PID || live.StartTime != p.Proc.StartTime {
		t.Fatalf("Identify = %+v, %v; recorded %+v", live, err, p.Proc)
	}
	if p.Proc.BootID == "" {
		t.Error("no boot id on Linux")
	}
}

// Adopted processes are watched through a pidfd, not by polling.
func TestWatchExitUsesPidfd(t *testing.T) {
	p, _ := startHelper(t, "sleep")
	w, err := watchExit(p.Proc)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	if _, ok := w.(*pidfdWatch); !ok {
		t.Fatalf("watch is %T, want *pidfdWatch", w)
	}
	if err := unix.Kill(p.Proc.PID, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testBound)
	defer cancel()
	if err := w.wait(ctx); err != nil {
		t.Fatal(err)
	}
}

// A real recycled pid: the agent exits, and a new process is made to get its
// pid (through /proc/sys/kernel/ns_last_pid). The recorded identity must not
// reach it.
func TestRecycledPIDNeverSignalled(t *testing.T) {
	const lastPID = "/proc/sys/kernel/ns_last_pid"
	if f, err := os.OpenFile(lastPID, os.O_WRONLY, 0); err != nil {
		t.Skipf("cannot force a pid (%v)", err)
	} else {
		f.Close()
	}
	old, _ := startHelper(t, "exit-after", envArg+"=0")
	waitDone(t, old, "first agent")
	var reused *Process
	for try := 0; try < 50 && reused == nil; try++ {
		if err := os.WriteFile(lastPID, []byte(strconv.Itoa(old.Proc.PID-1)), 0); err != nil {
			t.Skipf("cannot force a pid: %v", err)
		}
		p, err := Start(helperCommand("sleep", filepath.Join(tempDir(t), "ready"), "reuse"))
		if err != nil {
			t.Fatal(err)
		}
		if p.Proc.PID == old.Proc.PID && p.Proc.StartTime != old.Proc.StartTime {
			reused = p
			break
		}
		KillTree(context.Background(), "reuse", p.Proc)
		<-p.Done()
	}
	if reused == nil {
		t.Skip("could not get the pid reused in 50 tries")
	}
	t.Cleanup(func() { KillTree(context.Background(), "reuse", reused.Proc); <-reused.Done() })
	t.Logf("pid %d reused: start %d, recorded %d", old.Proc.PID, reused.Proc.StartTime, old.Proc.StartTime)

	if err := Interrupt(old.Proc); !errors.Is(err, ErrGone) {
		t.Errorf("Interrupt: %v, want ErrGone", err)
	}
	if err := Terminate(old.Proc); !errors.Is(err, ErrGone) {
		t.Errorf("Terminate: %v, want ErrGone", err)
	}
	if err := KillTree(context.Background(), "reuse", old.Proc); err != nil {
		t.Errorf("KillTree: %v, want nil", err)
	}
	if err := WaitExit(context.Background(), old.Proc); err != nil {
		t.Errorf("WaitExit: %v, want nil at once", err)
	}
	staysAlive(t, reused, "the process that got the recycled pid")
}

// A kill that fails for another reason than "gone" is an error naming the
// pid and the cause. The killer runs as nobody against a root-owned agent.
func TestKillTreePermissionErrorNamesPID(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the killer as another user")
	}
	target, _ := startHelper(t, "sleep")
	dir, err := os.MkdirTemp("", "lifeline-eperm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "process.test")
	if err := copyFile(exe(), bin); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	p := target.Proc
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), envMode+"=killer",
		fmt.Sprintf("%s=%d %d %d %s", envArg, p.PID, p.StartTime, p.Group, p.BootID))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("killer: %v\n%s", err, out)
	}
	for _, want := range []string{
		fmt.Sprintf("interrupt: pid %d: SIGINT to group %d: operation not permitted", p.PID, p.Group),
		fmt.Sprintf("killtree: pid %d: SIGKILL to group %d: operation not permitted", p.PID, p.Group),
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("killer output:\n%s\nwant %q", out, want)
		}
	}
	staysAlive(t, target, "root-owned agent")
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Freeze stops every member of the group (state T in /proc), refuses a
// process that is gone, and a frozen group still dies of KillTree.
func TestFreezeStopsTheGroupUntilTheKill(t *testing.T) {
	p, _ := startHelper(t, "sleep")
	if err := Freeze(context.Background(), p.Proc); err != nil {
		t.Fatalf("freeze: %v", err)
	}
	st, err := readStat(p.Proc.PID)
	if err != nil {
		t.Fatal(err)
	}
	if st.state != 'T' && st.state != 't' {
		t.Fatalf("pid %d is in state %c after Freeze, want stopped (T)", p.Proc.PID, st.state)
	}
	if err := KillTree(context.Background(), "frozen", p.Proc); err != nil {
		t.Fatalf("kill a frozen tree: %v", err)
	}
	waitDone(t, p, "frozen helper after KillTree")
	if err := Freeze(context.Background(), p.Proc); !errors.Is(err, ErrGone) {
		t.Errorf("freeze of a gone process: %v, want ErrGone", err)
	}
}
