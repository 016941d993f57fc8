package process

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
)

func TestStartRecordsIdentity(t *testing.T) {
	p, _ := startHelper(t, "sleep")
	live, err := Identify(p.Proc.PID)
	if err != nil {
		t.Fatal(err)
	}
	if err := match(p.Proc, live); err != nil {
		t.Fatalf("recorded %+v, live %+v: %v", p.Proc, live, err)
	}
	if p.Proc.Group != p.Proc.PID {
		t.Errorf("group %d, want its own (%d)", p.Proc.Group, p.Proc.PID)
	}
	if live.Group != p.Proc.PID {
		t.Errorf("live group %d, want %d", live.Group, p.Proc.PID)
	}
	at, err := StartedAt(p.Proc)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(at); d < -2*time.Second || d > time.Minute {
		t.Errorf("started at %v, %v ago", at, d)
	}
}

func TestGracefulStop(t *testing.T) {
	skipUnderWine(t, "GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT) fails without a console under Wine")
	p, _ := startHelper(t, "sleep")
	if err := Interrupt(p.Proc); err != nil {
		t.Fatal(err)
	}
	waitDone(t, p, "after Interrupt")
	if code, reason := p.ExitStatus(); code == 0 {
		t.Errorf("exit %d (%s), want an interrupted exit", code, reason)
	}
}

func TestInterruptIgnoredThenTerminate(t *testing.T) {
	p, _ := startHelper(t, "ignore-int")
	if isWine() {
		t.Log("under Wine: Interrupt skipped (CTRL_BREAK needs a console); Terminate still checked")
	} else {
		if err := Interrupt(p.Proc); err != nil {
			t.Fatal(err)
		}
		staysAlive(t, p, "SIGINT ignored")
	}
	if err := Terminate(p.Proc); err != nil {
		t.Fatal(err)
	}
	waitDone(t, p, "after Terminate")
}

func TestKillTreeKillsGrandchild(t *testing.T) {
	p, ready := startHelper(t, "tree")
	gc := identityOf(t, ready+".gc")
	if gc.Group != p.Proc.Group && !isWindows() {
		t.Fatalf("grandchild in group %d, want %d", gc.Group, p.Proc.Group)
	}
	if !isWindows() {
		// Interrupt and Terminate are ignored by the whole tree.
		if err := Interrupt(p.Proc); err != nil {
			t.Fatal(err)
		}
		if err := Terminate(p.Proc); err != nil {
			t.Fatal(err)
		}
		staysAlive(t, p, "SIGINT and SIGTERM ignored")
	}
	if err := KillTree(context.Background(), treeName(t), p.Proc); err != nil {
		t.Fatal(err)
	}
	waitDone(t, p, "leader after KillTree")
	if !gone(t, gc) {
		t.Fatalf("grandchild %d survived KillTree", gc.PID)
	}
	assertTreeGone(t, p.Proc, gc)
}

// KillTree after the leader has exited still kills what is left of its
// tree: the grandchild that ignores everything.
func TestKillTreeAfterLeaderExited(t *testing.T) {
	p, ready := startHelper(t, "tree")
	gc := identityOf(t, ready+".gc")
	if err := Terminate(p.Proc); err != nil && !isWindows() {
		t.Fatal(err)
	}
	if !isWindows() {
		// The leader ignores SIGTERM; end only the leader.
		if err := p.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
	}
	waitDone(t, p, "leader")
	if gone(t, gc) {
		t.Fatal("grandchild died with the leader; the test proves nothing")
	}
	if err := KillTree(context.Background(), treeName(t), p.Proc); err != nil {
		t.Fatal(err)
	}
	if !gone(t, gc) {
		t.Fatalf("grandchild %d survived KillTree", gc.PID)
	}
	assertTreeGone(t, p.Proc, gc)
}

func TestKillTreeAlreadyGoneIsSuccess(t *testing.T) {
	p, _ := startHelper(t, "exit-after", envArg+"=0")
	waitDone(t, p, "exit-after")
	if code, _ := p.ExitStatus(); code != 3 {
		t.Fatalf("exit code %d, want 3", code)
	}
	for i := range 2 {
		if err := KillTree(context.Background(), treeName(t), p.Proc); err != nil {
			t.Fatalf("KillTree #%d of a dead tree: %v", i+1, err)
		}
	}
	if err := Interrupt(p.Proc); !errors.Is(err, ErrGone) {
		t.Errorf("Interrupt of a dead process: %v, want ErrGone", err)
	}
	if err := Terminate(p.Proc); !errors.Is(err, ErrGone) {
		t.Errorf("Terminate of a dead process: %v, want ErrGone", err)
	}
	if err := KillTree(context.Background(), "none", drivers.Proc{}); err != nil {
		t.Errorf("KillTree of no process: %v", err)
	}
}

// A recorded identity whose start time (or boot id) differs from the live
// process holding the pid is another process: nothing signals it.
func TestIdentityMismatchNeverSignals(t *testing.T) {
	p, _ := startHelper(t, "sleep")
	wrongStart := p.Proc
	wrongStart.StartTime--
	wrongBoot := p.Proc
	wrongBoot.BootID = "another-boot"
	for _, rec := range []drivers.Proc{wrongStart, wrongBoot} {
		if rec.BootID == "another-boot" && p.Proc.BootID == "" {
			continue // no boot id on this OS
		}
		if err := Check(rec); !errors.Is(err, ErrGone) {
			t.Errorf("Check(%+v): %v, want ErrGone", rec, err)
		}
		if err := Interrupt(rec); !errors.Is(err, ErrGone) {
			t.Errorf("Interrupt(%+v): %v, want ErrGone", rec, err)
		}
		if err := Terminate(rec); !errors.Is(err, ErrGone) {
			t.Errorf("Terminate(%+v): %v, want ErrGone", rec, err)
		}
		if err := KillTree(context.Background(), treeName(t), rec); err != nil {
			t.Errorf("KillTree(%+v): %v, want nil (gone)", rec, err)
		}
		if err := WaitExit(context.Background(), rec); err != nil {
			t.Errorf("WaitExit(%+v): %v, want nil at once (gone)", rec, err)
		}
	}
	staysAlive(t, p, "unrelated process after signals to a wrong identity")
}

// WaitExit watches a process as an adopted one would be (pidfd, kqueue,
// process handle), not through Wait.
func TestWaitExitAdopted(t *testing.T) {
	p, _ := startHelper(t, "ignore-all")
	got := make(chan error, 1)
	go func() { got <- WaitExit(context.Background(), p.Proc) }()
	select {
	case err := <-got:
		t.Fatalf("WaitExit returned %v before the kill", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := KillTree(context.Background(), treeName(t), p.Proc); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testBound):
		t.Fatal("WaitExit did not see the exit")
	}
	if err := WaitExit(context.Background(), p.Proc); err != nil {
		t.Errorf("WaitExit of a gone process: %v", err)
	}
}

// A tree started by a daemon that has since exited is adopted from its
// recorded identity: watched, and killed whole.
func TestAdoptedTreeFromExitedDaemon(t *testing.T) {
	ready := filepath.Join(tempDir(t), "ready")
	launcher, err := Start(helperCommand("launcher", ready, "launcher", envArg+"=tree"))
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, launcher, "launcher")
	if code, reason := launcher.ExitStatus(); code != 0 {
		t.Fatalf("launcher: %s", reason)
	}
	agent, err := ReadPIDFile(ready)
	if err != nil {
		t.Fatal(err)
	}
	live, err := Identify(agent.PID)
	if err != nil {
		t.Fatal(err)
	}
	agent.Group = live.Group
	gc := identityOf(t, ready+".agent.gc")
	t.Cleanup(func() { KillTree(context.Background(), "adopt", agent) })

	exited := make(chan error, 1)
	go func() { exited <- WaitExit(context.Background(), agent) }()
	if err := KillTree(context.Background(), "adopt", agent); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testBound):
		t.Fatal("WaitExit did not see the adopted agent's exit")
	}
	if !gone(t, gc) {
		t.Fatalf("grandchild %d of the adopted tree survived", gc.PID)
	}
}

// The wait after a kill has its own bound: a caller's context that is
// already cancelled does not cut it short.
func TestKillWaitIgnoresCancelledParent(t *testing.T) {
	p, ready := startHelper(t, "tree")
	gc := identityOf(t, ready+".gc")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := KillTree(ctx, treeName(t), p.Proc); err != nil {
		t.Fatalf("KillTree with a cancelled parent: %v", err)
	}
	// KillTree returned nil only once the tree was gone: no waiting here.
	if !gone(t, p.Proc) || !gone(t, gc) {
		t.Fatal("KillTree returned before the tree was gone")
	}
	assertTreeGone(t, p.Proc, gc)
}

// A bounded wait that runs out says so, and the process is still there.
func TestWaitTimeoutIsTimeout(t *testing.T) {
	p, _ := startHelper(t, "ignore-all")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := WaitExit(ctx, p.Proc)
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitExit past its deadline: %v, want ErrTimeout", err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if st, err := p.Wait(ctx2); !errors.Is(err, ErrTimeout) || st != nil {
		t.Fatalf("Process.Wait past its deadline: %v, %v; want ErrTimeout", st, err)
	}
	ctx3, cancel3 := context.WithCancel(context.Background())
	cancel3()
	if err := WaitExit(ctx3, p.Proc); !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("WaitExit cancelled: %v, want context.Canceled", err)
	}
	if err := Check(p.Proc); err != nil {
		t.Fatalf("process after the timeouts: %v", err)
	}
}

func TestOutputToFiles(t *testing.T) {
	dir := tempDir(t)
	out := filepath.Join(dir, "out.log")
	ready := filepath.Join(dir, "ready")
	c := helperCommand("echo-env", ready, "out", envArg+"=LIFELINE_TEST_GREETING", "LIFELINE_TEST_GREETING=hi")
	c.Stdout, c.Stderr = out, out
	p, err := Start(c)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		KillTree(context.Background(), "out", p.Proc)
		<-p.Done()
	}()
	if _, err := readPID(ready, testBound); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "LIFELINE_TEST_GREETING=hi\n" {
		t.Fatalf("output %q", b)
	}
}

func TestPIDFileRoundTrip(t *testing.T) {
	dir := tempDir(t)
	path := filepath.Join(dir, "a.pid")
	want := drivers.Proc{PID: 42, StartTime: 1234567, BootID: "b00t"}
	if err := WritePIDFile(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadPIDFile(path)
	if err != nil || got != want {
		t.Fatalf("read %+v, %v; want %+v", got, err, want)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	os.WriteFile(path, []byte("77\n"), 0o644)
	if got, err := ReadPIDFile(path); err != nil || got != (drivers.Proc{PID: 77}) {
		t.Errorf("pid-only file: %+v, %v", got, err)
	}
	os.WriteFile(path, []byte("x\n"), 0o644)
	if _, err := ReadPIDFile(path); !errors.Is(err, ErrBadPIDFile) {
		t.Errorf("malformed: %v, want ErrBadPIDFile", err)
	}
	if _, err := ReadPIDFile(filepath.Join(dir, "none.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v, want ErrNotExist", err)
	}
}

// RemoveStale lists the directory: a name holding '[' and ']' is not a
// pattern, and the sibling a glob "vm[1]/*.pid" would match is untouched.
func TestRemoveStaleBracketDir(t *testing.T) {
	root := tempDir(t)
	dir := filepath.Join(root, "vm[1]")
	sibling := filepath.Join(root, "vm1")
	for _, d := range []string{dir, sibling, filepath.Join(dir, "sub.pid")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"agent.pid", "ha.sock", "x.json.tmp", "agent.stdout.log", "keep.json"} {
		os.WriteFile(filepath.Join(dir, f), nil, 0o644)
	}
	os.WriteFile(filepath.Join(sibling, "agent.pid"), nil, 0o644)
	if err := RemoveStale(dir); err != nil {
		t.Fatal(err)
	}
	var left []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if want := []string{"agent.stdout.log", "keep.json", "sub.pid"}; !slices.Equal(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
	if _, err := os.Stat(filepath.Join(sibling, "agent.pid")); err != nil {
		t.Errorf("sibling's pid file: %v", err)
	}
	if err := RemoveStale(filepath.Join(root, "missing[")); err != nil {
		t.Errorf("missing dir: %v", err)
	}
}

func TestMergeEnv(t *testing.T) {
	got := MergeEnv([]string{"A=1", "B=2", "C=3"}, map[string]string{"B": "x", "Z": "z", "D": "d"})
	want := []string{"A=1", "C=3", "B=x", "D=d", "Z=z"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// The one environment rule of both drivers: base, then the spec, then the
// driver's own variables; a nil base is the daemon's environment.
func TestAgentEnv(t *testing.T) {
	spec := map[string]string{"B": "spec", "OWN": "spec"}
	own := map[string]string{"OWN": "driver"}
	got := AgentEnv([]string{"A=1", "B=2", "OWN=base"}, spec, own)
	want := []string{"A=1", "B=spec", "OWN=driver"}
	if !slices.Equal(got, want) {
		t.Errorf("AgentEnv = %v, want %v", got, want)
	}
	if spec["OWN"] != "spec" || len(spec) != 2 || len(own) != 1 {
		t.Errorf("AgentEnv changed its maps: spec %v, own %v", spec, own)
	}
	t.Setenv("LIFELINE_TEST_AGENT_ENV", "daemon")
	got = AgentEnv(nil, nil, own)
	if !slices.Contains(got, "LIFELINE_TEST_AGENT_ENV=daemon") || !slices.Contains(got, "OWN=driver") {
		t.Errorf("AgentEnv(nil base) lacks the daemon's variable or the driver's: %v", got)
	}
	if got := AgentEnv([]string{}, nil, nil); len(got) != 0 {
		t.Errorf("AgentEnv(empty base) = %v, want empty (not the daemon's)", got)
	}
}

func TestJobName(t *testing.T) {
	p := drivers.Proc{PID: 12, StartTime: 34}
	if got := JobName(`vm\[1]`, p); got != `Local\lifeline-vm_[1]-12-34` {
		t.Fatalf("JobName: %q", got)
	}
}

// treeName is the name startHelper started the test's tree under.
func treeName(t testing.TB) string { return strings.ReplaceAll(t.Name(), "/", "_") }

func isWindows() bool { return runtime.GOOS == "windows" }

// skipUnderWine skips a check that Wine cannot do, saying why.
func skipUnderWine(t testing.TB, why string) {
	t.Helper()
	if isWine() {
		t.Skip("under Wine: " + why)
	}
}
