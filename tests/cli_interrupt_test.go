//go:build unix

package tests

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
)

// lockedBuffer is a bytes.Buffer safe to read while a process writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestCtrlCDuringStopWaitIsNotATimeout: Ctrl-C during `stop --wait` on a
// VM that ignores SIGINT exits 130, says it was interrupted, claims no
// state and no timeout, and the stop goes on in the daemon (issue 12 item
// 1).
func TestCtrlCDuringStopWaitIsNotATimeout(t *testing.T) {
	home := shortTemp(t)
	d := startDaemon(t, home)
	ctx := context.Background()
	if _, err := d.c.Create(ctx, "ig", api.Spec{Env: map[string]string{"LIFELINE_SIM_IGNORE_SIGINT": "1"}, Ready: api.ReadyAgent, GracefulTimeout: time.Hour}); err != nil {
		t.Fatal(err)
	}
	r, err := d.c.Start(ctx, "ig")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.c.Wait(ctx, "ig", api.Running, client.WaitOptions{Since: r.Seq, Timeout: settleWait}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(lifelineBin, "--data-dir", home, "stop", "ig", "--wait")
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The wait has begun once it showed the stop's transition.
	deadline := time.Now().Add(daemonWait)
	for !strings.Contains(stderr.String(), "Running → Stopping") {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("stop --wait showed no transition within %v; stderr:\n%s", daemonWait, stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("stop --wait after Ctrl-C: %v, want exit 130; stderr:\n%s", err, stderr.String())
	}
	out := stderr.String()
	if !strings.Contains(out, "interrupted") || strings.Contains(out, "timed out") || strings.Contains(out, "Absent") {
		t.Errorf("stderr after Ctrl-C:\n%s\nwant \"interrupted\", no timeout, no Absent", out)
	}
	if stdout.String() != "" {
		t.Errorf("stdout after Ctrl-C: %q, want nothing claimed", stdout.String())
	}
	v, err := d.c.Status(ctx, "ig")
	if err != nil {
		t.Fatal(err)
	}
	if v.State != api.Stopping {
		t.Errorf("after the CLI's Ctrl-C the VM is %s, want still Stopping (the stop goes on)", v.State)
	}
	// Leave nothing running: force the stop the CLI left to the daemon.
	fr, err := d.c.Stop(ctx, "ig", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.c.Wait(ctx, "ig", api.Stopped, client.WaitOptions{Since: fr.Seq, Timeout: settleWait}); err != nil {
		t.Fatal(err)
	}
}
