package agentsim

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func TestClaimPIDFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ha.pid")

	// A fresh claim writes Lima's format and leaves no temporary file.
	if err := claimPIDFile(path, 4242); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "4242\n" {
		t.Errorf("pid file holds %q, want %q", b, "4242\n")
	}

	// A file naming a live process (this one) is refused and kept.
	self := strconv.Itoa(os.Getpid()) + "\n"
	if err := os.WriteFile(path, []byte(self), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := claimPIDFile(path, 4242); !errors.Is(err, ErrPIDFileInUse) {
		t.Errorf("claim over a live pid: %v, want ErrPIDFileInUse", err)
	}
	if b, _ := os.ReadFile(path); string(b) != self {
		t.Errorf("refused claim changed the file to %q", b)
	}

	// A file naming a dead process, or garbage, is stale and replaced.
	dead := exec.Command(os.Args[0], "-test.run=^$")
	dead.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	for _, stale := range []string{strconv.Itoa(dead.Process.Pid) + "\n", "not a pid\n"} {
		if err := os.WriteFile(path, []byte(stale), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := claimPIDFile(path, 4343); err != nil {
			t.Errorf("claim over %q: %v", stale, err)
		}
		if b, _ := os.ReadFile(path); string(b) != "4343\n" {
			t.Errorf("claim over %q left %q", stale, b)
		}
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only ha.pid: %v", len(entries), entries)
	}
}
