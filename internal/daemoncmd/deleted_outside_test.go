package daemoncmd

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/internal/daemon"
)

// A VM deleted from outside (`limactl delete`, recorded deleted_outside)
// leaves no blank disk behind: a re-create of the same name gets a fresh,
// blank one, never the deleted VM's disk with what its guest wrote.
func TestDeletedOutsideRecreateGetsAFreshBlankDisk(t *testing.T) {
	const poll = 50 * time.Millisecond
	dataDir := t.TempDir()
	drv := drivertest.New()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Config{
			DataDir: dataDir, Options: engine.Options{Driver: drv, Logger: zerolog.Nop(), OutsidePoll: poll}, LockTimeout: time.Second,
			DefaultSpec: defaultSpec(dataDir), Files: blankDisks{dataDir: dataDir},
			Ready: func(sock string) { ready <- sock },
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	})
	var c *client.Client
	select {
	case sock := <-ready:
		c = client.New(sock)
	case err := <-done:
		t.Fatalf("daemon did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("daemon not ready after 30s")
	}
	if _, err := c.Create(ctx, "d", api.Spec{}); err != nil {
		t.Fatal(err)
	}
	disk := blankDisk(dataDir, "d")
	// What the guest wrote.
	f, err := os.OpenFile(disk, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("guest data"), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// The engine counts a delete from outside only for a definition it
	// has seen at one of its looks (outside.go, v.defined): wait, bounded,
	// until a look that began after the create has ended (two looks more
	// than now). Then limactl delete, recorded within the bounded poll
	// below.
	deadline := time.Now().Add(30 * time.Second)
	for n := drv.OutsideLooks("d"); drv.OutsideLooks("d") < n+2; time.Sleep(poll / 5) {
		if time.Now().After(deadline) {
			t.Fatalf("the engine did not look at vm d from outside within 30s (looks every %v)", poll)
		}
	}
	drv.DeleteOutside("d")
	deadline = time.Now().Add(30 * time.Second)
	for {
		_, err := c.Status(ctx, "d")
		if client.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("vm d still known 30s after limactl delete: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := os.Stat(disk); !os.IsNotExist(err) {
		t.Fatalf("blank disk %s after the delete from outside: %v, want it removed", filepath.Base(disk), err)
	}
	if _, err := c.Create(ctx, "d", api.Spec{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(disk)
	if err != nil {
		t.Fatal(err)
	}
	if string(b[:10]) == "guest data" {
		t.Fatal("the re-created VM got the deleted VM's disk")
	}
}
