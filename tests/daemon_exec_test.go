//go:build !windows

// Not on Windows: it uses symlinks and unix exec; Windows runs lifelined as
// a child (internal/cli/daemon_exec_windows.go), which only the cross build
// checks.

package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDaemonVerbRunsLifelined: `lifeline daemon ARGS` is `lifelined ARGS`,
// found next to lifeline (through a symlink to lifeline too) or on PATH,
// and both programs report the same version and VCS revision; a lifeline
// without lifelined says how to install it and exits 1.
func TestDaemonVerbRunsLifelined(t *testing.T) {
	output := func(env []string, name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	cli, err := output(nil, lifelineBin, "--version")
	if err != nil {
		t.Fatalf("lifeline --version: %v: %s", err, cli)
	}
	daemon, err := output(nil, lifelinedBin, "--version")
	if err != nil {
		t.Fatalf("lifelined --version: %v: %s", err, daemon)
	}
	if strings.TrimPrefix(cli, "lifeline ") != strings.TrimPrefix(daemon, "lifelined ") || !strings.HasPrefix(daemon, "lifelined ") {
		t.Errorf("lifeline --version %q and lifelined --version %q differ in version or revision", cli, daemon)
	}
	emptyPath := "PATH=" + t.TempDir()
	if got, err := output([]string{emptyPath}, lifelineBin, "daemon", "--version"); err != nil || got != daemon {
		t.Errorf("lifeline daemon --version: %q (%v), want lifelined's %q", got, err, daemon)
	}
	// A symlink to lifeline elsewhere (a bin dir on PATH) finds the
	// lifelined next to the file it links to.
	link := filepath.Join(t.TempDir(), "lifeline")
	if err := os.Symlink(lifelineBin, link); err != nil {
		t.Fatal(err)
	}
	if got, err := output([]string{emptyPath}, link, "daemon", "--version"); err != nil || got != daemon {
		t.Errorf("symlinked lifeline daemon --version: %q (%v), want lifelined's %q", got, err, daemon)
	}
	// A copy of lifeline (and lifeline-cli) alone: lifelined on PATH,
	// else the error.
	alone := copyPrograms(t, "lifeline", "lifeline-cli")
	if got, err := output([]string{"PATH=" + filepath.Dir(lifelinedBin)}, alone, "daemon", "--version"); err != nil || got != daemon {
		t.Errorf("lifeline alone, lifelined on PATH: %q (%v), want lifelined's %q", got, err, daemon)
	}
	got, err := output([]string{emptyPath}, alone, "daemon", "--data-dir", t.TempDir())
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("lifeline alone: %v, want exit 1", err)
	}
	if !strings.Contains(got, "lifelined is not installed") || !strings.Contains(got, "go install ./cmd/...") {
		t.Errorf("lifeline alone: %q, want how to install lifelined", got)
	}
}
