//go:build linux

package daemon

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/engine"
)

// TestAbortedFileSystemShowsInStatus is issue 9 item 6 on a real file
// system: the data dir is on an ext4 image mounted with errors=remount-ro;
// a Running VM's agent crashes after the file system aborted (ext4's
// trigger_fs_error, the "read-only (aborted) file system" of the issue).
// The crash's record fails with EROFS; the daemon keeps retrying it and
// its status says so, naming the error. (An aborted ext4 cannot be made
// writable again while the daemon holds the file; that the retry records
// the crash once the log takes writes is TestUnrecordedCrashIsRetried.)
// It needs root, loop devices and mkfs.ext4, and says so when they are
// missing.
func TestAbortedFileSystemShowsInStatus(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a file system image")
	}
	for _, tool := range []string{"mkfs.ext4", "mount", "umount", "findmnt"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	dir, err := os.MkdirTemp("", "llro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	img, mnt := filepath.Join(dir, "fs.img"), filepath.Join(dir, "m")
	run := func(name string, args ...string) error {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
		return nil
	}
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 16<<20); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := run("mkfs.ext4", "-q", "-F", img); err != nil {
		t.Fatal(err)
	}
	if err := run("mount", "-o", "loop,errors=remount-ro", img, mnt); err != nil {
		t.Skipf("cannot mount a loop device here: %v", err)
	}
	t.Cleanup(func() {
		if err := run("umount", mnt); err != nil {
			t.Errorf("%v", err)
		}
	})
	out, err := exec.Command("findmnt", "-n", "-o", "SOURCE", mnt).Output()
	if err != nil {
		t.Fatal(err)
	}
	trigger := filepath.Join("/sys/fs/ext4", filepath.Base(strings.TrimSpace(string(out))), "trigger_fs_error")
	if _, err := os.Stat(trigger); err != nil {
		t.Skipf("this kernel cannot abort an ext4 on purpose: %v", err)
	}

	drv := drivertest.New()
	drv.Script("vm1", drivertest.Behavior{CrashAfter: 2 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{DataDir: filepath.Join(mnt, "home"), Options: engine.Options{Driver: drv, Logger: zerolog.Nop(), GracefulTimeout: time.Second}, LockTimeout: time.Second,
			Ready: func(sock string) { ready <- sock }})
	}()
	var c *client.Client
	select {
	case sock := <-ready:
		c = client.New(sock)
	case err := <-done:
		t.Fatalf("daemon: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("daemon not ready after 30s")
	}
	defer func() {
		cancel()
		<-done // its shutdown cannot record the stop: an error is expected
	}()
	bg := context.Background()
	if _, err := c.Create(bg, "vm1", api.Spec{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Start(bg, "vm1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(bg, "vm1", api.Running, client.WaitOptions{Timeout: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(trigger, []byte("1"), 0o200); err != nil {
		t.Fatal(err)
	}
	var last string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		v, err := c.Status(bg, "vm1")
		if err != nil {
			t.Fatal(err)
		}
		last = string(v.State) + " " + v.Unrecorded
		if v.State == "Running" && strings.Contains(v.Unrecorded, "agent exit") && strings.Contains(v.Unrecorded, "read-only file system") {
			return
		}
	}
	t.Fatalf("status never said the crash is unrecorded on the aborted file system; last: %s", last)
}
