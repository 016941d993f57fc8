package daemoncmd

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/lifeline-vm/lifeline/drivers/lima"
)

// TestLimaHomeFlagSetsTheEnvironment: --lima-home without LIMA_HOME set
// becomes the process's LIMA_HOME, which Lima's packages (limaprep) and
// every program the daemon runs read (issue 12 item 14).
func TestLimaHomeFlagSetsTheEnvironment(t *testing.T) {
	t.Setenv(lima.EnvLimaHome, "")
	os.Unsetenv(lima.EnvLimaHome)
	base := t.TempDir()
	home, err := useLimaHome(filepath.Join(base, "data"), filepath.Join(base, "lh"))
	if err != nil {
		t.Fatal(err)
	}
	if got := os.Getenv(lima.EnvLimaHome); got != home || home != filepath.Join(base, "lh") {
		t.Errorf("LIMA_HOME = %q, home %q; want %q", got, home, filepath.Join(base, "lh"))
	}
}

// TestLimaHomeHasOneOwner: a data dir records its Lima home and refuses
// another; a Lima home that a live data dir owns is refused to a second
// one; one whose owner is gone is taken over.
func TestLimaHomeHasOneOwner(t *testing.T) {
	t.Setenv(lima.EnvLimaHome, "")
	base := t.TempDir()
	a, b, h1, h2 := filepath.Join(base, "a"), filepath.Join(base, "b"), filepath.Join(base, "h1"), filepath.Join(base, "h2")
	if _, err := useLimaHome(a, h1); err != nil {
		t.Fatal(err)
	}
	if _, err := useLimaHome(a, h1); err != nil {
		t.Errorf("the owner again: %v", err)
	}
	_, err := useLimaHome(b, h1)
	if err == nil || !strings.Contains(err.Error(), "belongs to the lifeline data dir "+a) || !strings.Contains(err.Error(), "give this daemon its own --lima-home") {
		t.Errorf("a second data dir in h1: %v", err)
	}
	_, err = useLimaHome(a, h2)
	if err == nil || !strings.Contains(err.Error(), "keeps its VMs in the Lima home "+h1) {
		t.Errorf("data dir a in another Lima home: %v", err)
	}
	if err := os.RemoveAll(a); err != nil {
		t.Fatal(err)
	}
	if _, err := useLimaHome(b, h1); err != nil {
		t.Errorf("h1 after its owner is gone: %v", err)
	}
}

// TestHostAgentMissing: the daemon says how to install Lima or run
// without it when its host agent command does not exist (item 13).
func TestHostAgentMissing(t *testing.T) {
	err := checkHostAgent([]string{"limactl-that-is-not-here", "hostagent"})
	if err == nil || !strings.Contains(err.Error(), "install Lima") || !strings.Contains(err.Error(), `--hostagent-cmd "lifeline agent-sim"`) {
		t.Errorf("missing host agent: %v", err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		if err := checkHostAgent([]string{self, "agent-sim"}); err != nil {
			t.Errorf("an existing command: %v", err)
		}
	}
}

// TestAgentSimHintNamesTheCLI: lifelined has no agent-sim verb; the hint
// for a --hostagent-cmd "lifeline agent-sim" not on PATH names the
// lifeline next to it, not lifelined itself.
func TestAgentSimHintNamesTheCLI(t *testing.T) {
	for exe, want := range map[string]string{
		filepath.Join("opt", "bin", "lifelined"):     filepath.Join("opt", "bin", "lifeline"),
		filepath.Join("opt", "bin", "lifelined.exe"): filepath.Join("opt", "bin", "lifeline.exe"),
		filepath.Join("opt", "bin", "lifeline"):      filepath.Join("opt", "bin", "lifeline"),
	} {
		if got := cliNextTo(exe); got != want {
			t.Errorf("cliNextTo(%q) = %q, want %q", exe, got, want)
		}
	}
}
