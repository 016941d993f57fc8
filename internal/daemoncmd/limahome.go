package daemoncmd

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/lifeline-vm/lifeline/drivers/lima"
	"github.com/lifeline-vm/lifeline/internal/atomicfile"
)

// The files of a Lima home's ownership: the data dir records the Lima home
// its VMs live in, the Lima home the data dir of the daemon that owns it
// (Lima skips files, and names that begin with "_", as instances).
const (
	DataDirLimaHomeFile = "lima-home"
	limaHomeOwnerFile   = "_lifeline-owner"
)

// useLimaHome makes --lima-home the one Lima home of this daemon: the
// process environment's LIMA_HOME (Lima's packages and every program the
// daemon runs read it), claimed for dataDir. A data dir that owns another
// Lima home, or a Lima home another live data dir owns, is refused: two
// daemons in one Lima home collide on instance names.
func useLimaHome(dataDir, limaHome string) (string, error) {
	if limaHome == "" {
		h, err := lima.DefaultLimaHome()
		if err != nil {
			return "", fmt.Errorf("lima home: %w; give one with --lima-home", err)
		}
		limaHome = h
	}
	home, err := filepath.Abs(limaHome)
	if err != nil {
		return "", fmt.Errorf("--lima-home %q: %w", limaHome, err)
	}
	data, err := filepath.Abs(dataDir)
	if err != nil {
		return "", fmt.Errorf("--data-dir %q: %w", dataDir, err)
	}
	if err := os.Setenv(lima.EnvLimaHome, home); err != nil {
		return "", fmt.Errorf("set LIMA_HOME: %w", err)
	}
	if err := claimLimaHome(data, home); err != nil {
		return "", err
	}
	return home, nil
}

func readLine(path string) (string, error) {
	b, err := os.ReadFile(path)
	return strings.TrimSpace(string(b)), err
}

// claimLimaHome records that the data dir data owns the Lima home home,
// both ways, after checking neither belongs to another.
func claimLimaHome(data, home string) error {
	mine := filepath.Join(data, DataDirLimaHomeFile)
	had, err := readLine(mine)
	switch {
	case err == nil && had != home:
		return fmt.Errorf("data dir %s keeps its VMs in the Lima home %s (%s), not %s: start the daemon with --lima-home %s, or give it another --data-dir", data, had, mine, home, had)
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("data dir %s: read %s: %w", data, mine, err)
	}
	owner := filepath.Join(home, limaHomeOwnerFile)
	other, err := readLine(owner)
	switch {
	case err == nil && other != data:
		// Another data dir's, unless it no longer claims it (gone, or
		// moved to another Lima home): then this one takes it over.
		if theirs, err := readLine(filepath.Join(other, DataDirLimaHomeFile)); err == nil && theirs == home {
			return fmt.Errorf("the Lima home %s belongs to the lifeline data dir %s (%s): two daemons in one Lima home collide on instance names; give this daemon its own --lima-home (or stop using %s and remove %s)", home, other, owner, other, filepath.Join(other, DataDirLimaHomeFile))
		}
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("the Lima home %s: read %s: %w", home, owner, err)
	}
	if had == home && other == data {
		return nil // both recorded at an earlier start
	}
	for _, dir := range []string{data, home} {
		if err := atomicfile.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("claim Lima home %s for %s: %w", home, data, err)
		}
	}
	if err := atomicfile.WriteBytes(mine, []byte(home+"\n"), 0o600); err != nil {
		return fmt.Errorf("data dir %s: record its Lima home: %w", data, err)
	}
	if err := atomicfile.WriteBytes(owner, []byte(data+"\n"), 0o600); err != nil {
		return fmt.Errorf("the Lima home %s: record its owner: %w", home, err)
	}
	return nil
}

// checkHostAgent checks that the host agent command exists before the
// daemon supervises anything with it, and says what to do when it does
// not: install Lima, or run without it.
func checkHostAgent(cmd []string) error {
	if _, err := exec.LookPath(cmd[0]); err != nil {
		if len(cmd) > 1 && cmd[1] == "agent-sim" {
			self, _ := os.Executable()
			return fmt.Errorf("--hostagent-cmd %q: %s is not on PATH (%v): put lifeline on PATH (go install ./cmd/...), or give its full path: --hostagent-cmd \"%s agent-sim\"", strings.Join(cmd, " "), cmd[0], err, cliNextTo(self))
		}
		return fmt.Errorf("--hostagent-cmd %q: %s is not installed or not on PATH (%v): install Lima (https://lima-vm.io/docs/installation/, e.g. `brew install lima`), or run the daemon without it: lifeline daemon --hostagent-cmd \"lifeline agent-sim\"", strings.Join(cmd, " "), cmd[0], err)
	}
	return nil
}

// cliNextTo is the lifeline CLI that has agent-sim, for a daemon running
// as exe: the lifeline next to lifelined, or exe itself when the daemon
// is the CLI's (the demo's).
func cliNextTo(exe string) string {
	dir, base := filepath.Split(exe)
	if rest, ok := strings.CutPrefix(base, "lifelined"); ok {
		return filepath.Join(dir, "lifeline"+rest)
	}
	return exe
}
