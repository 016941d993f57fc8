//go:build windows

package process

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/windows"

	"github.com/lifeline-vm/lifeline/drivers"
)

// isWine reports whether the tests run under Wine: its ntdll exports
// wine_get_version.
var isWine = sync.OnceValue(func() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
})

// assertTreeGone: on Windows the tree is the Job Object; KillTree returned
// only once it held no process, and this process no longer holds it.
func assertTreeGone(t testing.TB, leader drivers.Proc, _ ...drivers.Proc) {
	t.Helper()
	jobs.Lock()
	defer jobs.Unlock()
	for name := range jobs.m {
		if name == JobName(treeName(t), leader) {
			t.Errorf("job %s still held after KillTree", name)
		}
	}
}

func TestTaskkillResult(t *testing.T) {
	// A real *exec.ExitError with the given code, from the helper.
	exit := func(code int) error {
		cmd := exec.Command(exe())
		cmd.Env = append(os.Environ(), envMode+"=exit-code", envArg+"="+strconv.Itoa(code))
		return cmd.Run()
	}
	if err := taskkillResult(1, nil, nil); err != nil {
		t.Errorf("exit 0: %v", err)
	}
	if err := taskkillResult(1, nil, exit(taskkillNotFound)); err != nil {
		t.Errorf("exit 128 (not found): %v, want nil", err)
	}
	if err := taskkillResult(1, []byte("denied"), exit(1)); err == nil {
		t.Error("exit 1: nil, want an error")
	}
}

// WAIT_TIMEOUT comes with a nil error: it must read as "not exited".
func TestWaitObjectTimeout(t *testing.T) {
	p, _ := startHelper(t, "sleep")
	h, err := openRecorded(p.Proc, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer windows.CloseHandle(h)
	if signalled, err := waitObject(h, 20*time.Millisecond); signalled || err != nil {
		t.Fatalf("waitObject on a live process = %v, %v; want false, nil", signalled, err)
	}
	if err := Terminate(p.Proc); err != nil {
		t.Fatal(err)
	}
	if signalled, err := waitObject(h, testBound); !signalled || err != nil {
		t.Fatalf("waitObject after TerminateProcess = %v, %v; want true, nil", signalled, err)
	}
}

// A restarted daemon opens the Job Object by name: the launcher that created
// it (and held it) has exited; the leader's own handle keeps the name.
func TestJobReopenedAfterDaemonExit(t *testing.T) {
	ready := filepath.Join(tempDir(t), "ready")
	launcher, err := Start(helperCommand("launcher", ready, "launcher", envArg+"=tree"))
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, launcher, "launcher")
	agent, err := ReadPIDFile(ready)
	if err != nil {
		t.Fatal(err)
	}
	agent.Group = agent.PID
	gc := identityOf(t, ready+".agent.gc")
	job, ours, err := openJob(JobName("adopt", agent))
	if err != nil || ours {
		t.Fatalf("open job %s: ours=%v, %v", JobName("adopt", agent), ours, err)
	}
	windows.CloseHandle(job)
	if err := KillTree(context.Background(), "adopt", agent); err != nil {
		t.Fatal(err)
	}
	if !gone(t, agent) || !gone(t, gc) {
		t.Fatal("tree survived TerminateJobObject")
	}
}

// A tree without a Job Object (not started by Start) is killed with
// taskkill /F /T.
func TestTaskkillFallback(t *testing.T) {
	skipUnderWine(t, "Wine's taskkill has no /T")
	ready := filepath.Join(tempDir(t), "ready")
	cmd := exec.Command(exe())
	cmd.Env = append(os.Environ(), envMode+"=tree", envReady+"="+ready)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	leader := identityOf(t, ready)
	gc := identityOf(t, ready+".gc")
	if err := KillTree(context.Background(), "nojob", leader); err != nil {
		t.Fatal(err)
	}
	if !gone(t, leader) || !gone(t, gc) {
		t.Fatal("tree survived taskkill")
	}
}

func init() {
	// exit-code exits with the code envArg says.
	helpers["exit-code"] = func() int {
		n, _ := strconv.Atoi(os.Getenv(envArg))
		return n
	}
}
