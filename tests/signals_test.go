//go:build unix

package tests

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
)

// runningVMs creates and starts n VMs and returns their agents, Running.
func runningVMs(t *testing.T, c *client.Client, names ...string) map[string]api.VM {
	t.Helper()
	ctx := context.Background()
	out := map[string]api.VM{}
	for _, name := range names {
		if _, err := c.Create(ctx, name, api.Spec{Ready: "agent"}); err != nil {
			t.Fatal(err)
		}
		r, err := c.Start(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		v, err := c.Wait(ctx, name, api.Running, client.WaitOptions{Since: r.Seq, Timeout: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		out[name] = v
	}
	return out
}

// supervising checks that the daemon answers and that every VM is still
// Running with the same live agent.
func supervising(t *testing.T, c *client.Client, vms map[string]api.VM, after string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, was := range vms {
		v, err := c.Status(ctx, name)
		if err != nil {
			t.Fatalf("after %s: the daemon does not answer: %v", after, err)
		}
		if v.State != "Running" || v.HostAgentPID != was.HostAgentPID {
			t.Fatalf("after %s: vm %s is %s with agent %d, was Running with %d", after, name, v.State, v.HostAgentPID, was.HostAgentPID)
		}
		if err := syscall.Kill(int(v.HostAgentPID), 0); err != nil {
			t.Fatalf("after %s: agent pid %d of %s: %v", after, v.HostAgentPID, name, err)
		}
	}
}

// eventuallyInLog waits, bounded, until the daemon's log contains s.
func eventuallyInLog(t *testing.T, home, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(readLog(home), s) {
		if time.Now().After(deadline) {
			t.Fatalf("the daemon's log does not say %q:\n%s", s, readLog(home))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SIGHUP (the terminal of `lifeline daemon &` closing) ended the daemon
// with 129 and orphaned every agent; SIGQUIT dumped goroutines and exited
// 2. Both are now logged and the daemon goes on supervising; SIGTERM still
// stops every VM and exits 0 (issue 9, item 4).
func TestDaemonSurvivesHUPAndQUIT(t *testing.T) {
	home := shortTemp(t)
	d := startDaemon(t, home)
	vms := runningVMs(t, d.c, "vm1", "vm2")

	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventuallyInLog(t, home, "SIGHUP ignored")
	supervising(t, d.c, vms, "SIGHUP")

	if err := d.cmd.Process.Signal(syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	eventuallyInLog(t, home, "goroutine dump on request")
	if !strings.Contains(readLog(home), "goroutine 1 [") {
		t.Errorf("the SIGQUIT dump has no goroutine stacks")
	}
	supervising(t, d.c, vms, "SIGQUIT")

	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.exited:
		if err != nil {
			t.Fatalf("daemon exit after SIGTERM: %v\n%s", err, readLog(home))
		}
	case <-time.After(settleWait):
		t.Fatal("daemon did not exit after SIGTERM")
	}
	checkNothingRuns(t, home)
	if _, err := os.Stat(filepath.Join(home, api.SocketName)); err == nil {
		t.Errorf("socket left after a clean exit")
	}
}

// `lifeline daemon 2>&1 | head -c 2500`: once head exits, the next log
// line killed the daemon with SIGPIPE. Now the lines are lost and the
// daemon goes on.
func TestDaemonSurvivesClosedStderr(t *testing.T) {
	home := shortTemp(t)
	cmd := exec.Command(lifelineBin, "daemon", "--data-dir", home,
		"--lima-home", filepath.Join(home, "lima"),
		"--hostagent-cmd", lifelineBin+" agent-sim",
		"--graceful-timeout", crashGraceful.String(), "--log-level", "debug")
	cmd.Env = os.Environ()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	exited, done := make(chan error, 1), make(chan struct{})
	go func() { exited <- cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(settleWait):
			_ = cmd.Process.Kill()
		}
	})
	// head -c 2500: read up to 2500 bytes, then close the pipe.
	head := make([]byte, 2500)
	n, _ := io.ReadAtLeast(pr, head, 1)
	pr.Close()
	t.Logf("read %d bytes of the log, then closed it", n)

	c := client.New(filepath.Join(home, api.SocketName))
	deadline := time.Now().Add(daemonWait)
	for {
		if _, err := c.Info(context.Background()); err == nil {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("daemon exited: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("daemon not up")
		}
	}
	// Every command below logs (debug level) into the closed pipe.
	vms := runningVMs(t, c, "vm1", "vm2")
	supervising(t, c, vms, "writes to a closed stderr")
	select {
	case err := <-exited:
		t.Fatalf("daemon died with its stderr closed: %v", err)
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("daemon exit after SIGTERM: %v", err)
		}
	case <-time.After(settleWait):
		t.Fatal("daemon did not exit after SIGTERM")
	}
	checkNothingRuns(t, home)
}
