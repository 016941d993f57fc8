package process

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func init() {
	// vforker forks /bin/true as fast as it can from its main thread (the
	// group's leader, whose state /proc/<pid>/stat shows), as Lima's host
	// agent starts its ssh helpers and QEMU: Go's os/exec forks with
	// vfork, and the child calls setpgid before its exec.
	helpers["vforker"] = func() int {
		runtime.LockOSThread() // the main goroutine on the main thread
		ready()
		for {
			c := exec.Command("/bin/true")
			c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := c.Start(); err != nil {
				os.Exit(2)
			}
			go c.Wait()
		}
	}
}

// Freeze right after a spawn hit its FreezeWait (2 s) now and then: the
// SIGSTOP to the agent's group caught a vfork child before its exec
// (still in the group), and the parent, blocked in vfork until that
// child execs, stayed in state D: the group never looked stopped. A group
// whose member waits in vfork on a stopped child is frozen (nothing can
// be forked past it). Bounded: at most freezes tries, each of which hit
// the 2 s wait before with a chance of a few in a hundred.
func TestFreezeOfAGroupInTheMiddleOfAVfork(t *testing.T) {
	const freezes = 300
	p, _ := startHelper(t, "vforker")
	pgid := p.Proc.PID
	for i := range freezes {
		t0 := time.Now()
		if err := Freeze(context.Background(), p.Proc); err != nil {
			t.Fatalf("freeze #%d of a group forking with vfork: %v after %v", i+1, err, time.Since(t0).Round(time.Millisecond))
		}
		if d := time.Since(t0); d > FreezeWait/2 {
			t.Fatalf("freeze #%d took %v", i+1, d)
		}
		if err := unix.Kill(-pgid, unix.SIGCONT); err != nil {
			t.Fatal(err)
		}
		// Not a wait for anything: the next freeze lands 0-3 ms after the
		// thaw, so it catches the helper's fork loop at other points.
		time.Sleep(time.Duration(i%4) * time.Millisecond)
	}
}
