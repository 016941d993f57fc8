//go:build unix

package cli

import (
	"context"
	"errors"
	"os/exec"
	"testing"
)

// TestChildExitOfTheDemo: how lifeline ends after the demo's lifelined
// (run from a checkout) ended: its own exit code, 130 when interrupted,
// and an error (exit 1), not 255, for a child killed by a signal.
func TestChildExitOfTheDemo(t *testing.T) {
	run := func(script string) error { return exec.Command("sh", "-c", script).Run() }
	ctx := context.Background()
	if err := childExit(ctx, "lifelined", run("exit 0")); err != nil {
		t.Errorf("a demo that exited 0: %v, want nil", err)
	}
	if got := exitCode(childExit(ctx, "lifelined", run("exit 3"))); got != 3 {
		t.Errorf("a demo that exited 3: lifeline exits %d, want 3", got)
	}
	killed := childExit(ctx, "lifelined", run("kill -9 $$"))
	var ce childExitError
	if killed == nil || errors.As(killed, &ce) || exitCode(killed) != exitError {
		t.Errorf("a demo killed by SIGKILL: %v (exit %d), want an error that exits %d", killed, exitCode(killed), exitError)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if got := exitCode(childExit(cancelled, "lifelined", run("exit 1"))); got != exitInterrupted {
		t.Errorf("a demo ended by Ctrl-C: lifeline exits %d, want %d", got, exitInterrupted)
	}
}
