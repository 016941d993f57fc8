//go:build linux

package tests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/lifeline-vm/lifeline/api"
)

// nobody is the unprivileged user the test connects as.
const nobody = 65534

// TestOtherUserCannotConnect: the control socket is the daemon user's
// alone (mode 0600 in a 0700 data dir); a second, unprivileged user gets
// permission denied. Switching users needs root: CI runs as root and sets
// LIFELINE_CI=1, so there the test cannot be skipped.
func TestOtherUserCannotConnect(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("LIFELINE_CI") == "1" {
			t.Fatal("CI must run this as root, to act as a second user")
		}
		t.Skip("needs root to run a command as a second user")
	}
	home := shortTemp(t)
	d := startDaemon(t, home)
	defer d.stop(t)

	sock := filepath.Join(home, api.SocketName)
	for path, want := range map[string]os.FileMode{home: 0o700, sock: 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
	// nobody must be able to run the binary at all, or the test proves
	// nothing about the socket.
	if err := os.Chmod(filepath.Dir(lifelineBin), 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		cmd := exec.Command(lifelineBin, args...)
		cmd.Env = []string{"LIFELINE_HOME=" + home, "HOME=/"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	if out, err := run("version"); err != nil {
		t.Fatalf("nobody cannot run lifeline at all: %v: %s", err, out)
	}
	out, err := run("list")
	if err == nil {
		t.Fatalf("a second user listed VMs: %s", out)
	}
	if !strings.Contains(out, "permission denied") {
		t.Errorf("second user: %q, want permission denied", out)
	}
	// The owner still can.
	if _, err := d.c.List(t.Context()); err != nil {
		t.Errorf("the owner cannot connect: %v", err)
	}
}
